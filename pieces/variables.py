"""Template variables: ``{task}``, ``{iteration}``, ``{report:FILE}`` and friends."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

NAMES = (
    "task",
    "iteration",
    "max_movements",
    "movement_iteration",
    "previous_response",
    "user_inputs",
    "report_dir",
    "cycle_count",
)
# Anything else in braces is left alone: instructions often contain JSON or code.
_VAR = re.compile(r"\{(" + "|".join(NAMES) + r"|report:([^{}\n]+))\}")


class PromptContext(BaseModel):
    """What a worker knows about the job when it builds one movement's prompt."""

    model_config = ConfigDict(frozen=True)

    task: str
    iteration: int = 1
    movement_iteration: int = 1
    previous_response: str | None = None
    user_inputs: list[str] = []
    reports: dict[str, str] = {}
    report_dir: str = "reports"
    cycle_count: int = 0
    notes: str | None = None
    handoff: str | None = None


def report_placeholder(name: str) -> str:
    return f"(report {name} has not been written yet in this job)"


def format_user_inputs(inputs: list[str]) -> str:
    if not inputs:
        return "(none)"
    return "\n".join(f"- {text.strip()}" for text in inputs)


def find_report(reports: Mapping[str, str], name: str) -> str | None:
    name = name.strip()
    if name in reports:
        return reports[name]
    # "{report:plan}" for "00-plan.md" is a common shorthand; accept an unambiguous stem.
    stems = [k for k in reports if k.rsplit(".", 1)[0] == name]
    return reports[stems[0]] if len(stems) == 1 else None


def values(ctx: PromptContext, max_movements: int) -> dict[str, str]:
    return {
        "task": ctx.task,
        "iteration": str(ctx.iteration),
        "max_movements": str(max_movements),
        "movement_iteration": str(ctx.movement_iteration),
        "previous_response": ctx.previous_response or "(no previous response)",
        "user_inputs": format_user_inputs(ctx.user_inputs),
        "report_dir": ctx.report_dir,
        "cycle_count": str(ctx.cycle_count),
    }


def expand(template: str, ctx: PromptContext, max_movements: int) -> str:
    """Replace known variables in one pass; substituted text is never expanded again."""
    table = values(ctx, max_movements)

    def sub(m: re.Match[str]) -> str:
        if m.group(2) is not None:
            found = find_report(ctx.reports, m.group(2))
            return found if found is not None else report_placeholder(m.group(2).strip())
        return table[m.group(1)]

    return _VAR.sub(sub, template)


def mentions(template: str | None, name: str) -> bool:
    return bool(template) and f"{{{name}}}" in template  # type: ignore[operator]
