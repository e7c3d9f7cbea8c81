"""Placeholders in instruction text, and how dynamic text is made safe to insert.

TAKT 0.31 replaces, in this order: ``{task}``, ``{iteration}``, ``{max_movements}``,
``{movement_iteration}``, ``{previous_response}`` (only when the movement passes the
previous response; otherwise left as written), ``{user_inputs}``, ``{report_dir}`` and
``{report:FILE}`` (the file's *path* in the report directory). The workflow dialect adds
``{max_steps}``, ``{step_iteration}``, ``{var:NAME}``, the workflow state
(``{context:…}``, ``{structured:…}``, ``{effect:…}``, pieces/state.py) and reads
``{report:FILE}`` as the file's *content*. Anything else in braces stays as written:
instructions often hold JSON.

Text that comes from users or models (the task, a previous response, user inputs) has its
braces replaced by full-width ones before it is inserted, so it can never be read as a
placeholder by a later replacement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from pieces.state import instruction_text

CONTEXT_MAX_CHARS = 2000
TRUNCATED = "\n...TRUNCATED..."
SOURCE_NOTICE = "If this prompt and a source file disagree, the source file is right."
MISSING_REPORT = "(the report {name} does not exist in this run)"

_REPORT = re.compile(r"\{report:([^}]+)\}")
_VAR = re.compile(r"\{var:([^}]+)\}")


class PromptContext(BaseModel):
    """What a worker knows about the job when it builds one movement's prompts."""

    model_config = ConfigDict(frozen=True)

    task: str
    iteration: int = 1
    movement_iteration: int = 1
    previous_response: str | None = None
    # Where the full previous response was saved when it had to be cut (a workspace path).
    previous_response_source: str | None = None
    user_inputs: list[str] = []
    reports: dict[str, str] = {}  # latest content of each report written in this attempt
    report_dir: str = "reports"
    working_dir: str = "."
    cycle_count: int = 0
    notes: str | None = None  # legato: lessons from earlier jobs of this owner
    retry_note: str | None = None  # legato: the handoff of the failed previous attempt
    interactive: bool = False
    vars: dict[str, str] = {}  # workflow dialect: workflow_call vars
    # Workflow dialect: the workflow state ({context:…}, {structured:…}, {effect:…}).
    state: dict = {}


def escape_braces(text: str) -> str:
    return text.replace("{", "｛").replace("}", "｝")


def truncate(text: str, limit: int = CONTEXT_MAX_CHARS) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit] + TRUNCATED, True


def prepared_previous_response(ctx: PromptContext) -> str:
    """The previous response as TAKT shows it: cut at 2,000 characters, with its source."""
    text, cut = truncate(ctx.previous_response or "")
    lines = [text]
    if ctx.previous_response_source:
        if cut:
            lines += [
                "",
                f"The previous response was cut. Full text: {ctx.previous_response_source}",
            ]
        lines += ["", f"Source: {ctx.previous_response_source}"]
    lines += ["", SOURCE_NOTICE]
    return "\n".join(lines)


def report_path(report_dir: str, name: str) -> str:
    return f"{report_dir.rstrip('/')}/{name.strip()}"


def find_report(reports: Mapping[str, str], name: str) -> str | None:
    name = name.strip()
    if name in reports:
        return reports[name]
    stems = [k for k in reports if k.rsplit(".", 1)[0] == name]
    return reports[stems[0]] if len(stems) == 1 else None


def replace_placeholders(
    template: str,
    ctx: PromptContext,
    *,
    max_movements: int | None,
    pass_previous_response: bool,
    dialect: str = "piece",
) -> str:
    """The instruction with its placeholders filled in, in TAKT's order."""
    limit = "infinite" if max_movements is None else str(max_movements)
    out = template
    if dialect != "piece":
        # TAKT fills state references before {task} (instruction/escape.ts:42-55); a
        # reference to state nobody produced raises pieces.state.StateError.
        out = instruction_text(out, ctx.state, escape_braces)
    out = out.replace("{task}", escape_braces(ctx.task))
    out = out.replace("{iteration}", str(ctx.iteration))
    if dialect == "piece":
        out = out.replace("{max_movements}", limit)
        out = out.replace("{movement_iteration}", str(ctx.movement_iteration))
    else:
        out = out.replace("{max_steps}", limit)
        out = out.replace("{step_iteration}", str(ctx.movement_iteration))
        out = _VAR.sub(
            lambda m: escape_braces(ctx.vars.get(m.group(1).strip(), "unspecified")), out
        )
    if pass_previous_response:
        previous = prepared_previous_response(ctx) if ctx.previous_response else ""
        out = out.replace("{previous_response}", escape_braces(previous))
    out = out.replace("{user_inputs}", escape_braces("\n".join(ctx.user_inputs)))
    out = out.replace("{report_dir}", ctx.report_dir)
    if dialect == "piece":
        return _REPORT.sub(lambda m: report_path(ctx.report_dir, m.group(1)), out)

    def content(m: re.Match[str]) -> str:
        found = find_report(ctx.reports, m.group(1))
        return escape_braces(found) if found is not None else MISSING_REPORT.format(name=m.group(1))

    return _REPORT.sub(content, out)


def mentions(template: str | None, name: str) -> bool:
    return bool(template) and f"{{{name}}}" in template  # type: ignore[operator]
