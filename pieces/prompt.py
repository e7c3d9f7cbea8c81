"""Assembling one movement's prompt from the piece, the movement and the job's state.

Order: persona, policies, execution context, knowledge, notes/handoff, instruction
(variables expanded, quality gates), the task unless the instruction placed it, the
previous response, user inputs, report instructions, the status-tag block, a reminder.
"""

from __future__ import annotations

from pieces.model import Movement, Piece, Rule
from pieces.reports import report_block
from pieces.variables import PromptContext, expand, format_user_inputs, mentions

_SEPARATOR = "\n\n---\n\n"


def _section(title: str, body: str | None) -> str | None:
    body = (body or "").strip()
    return f"# {title}\n\n{body}" if body else None


def _working_mode(movement: Movement) -> str | None:
    mode = movement.required_permission_mode
    if movement.edit is False or mode == "readonly":
        return "read-only: inspect and report, do not change any file"
    if mode == "full":
        return "full: you may change files and run commands in the workspace"
    if movement.edit or mode == "edit":
        return "edit: you may change files in the workspace"
    return None


def execution_context(piece: Piece, movement: Movement, ctx: PromptContext) -> str:
    described = f" — {piece.description.strip()}" if piece.description else ""
    lines = [
        f"- Piece: {piece.name}{described}",
        f"- Movement: {movement.name}",
        f"- Iteration: {ctx.iteration} of at most {piece.max_movements} movements",
        f"- Movement iteration: {ctx.movement_iteration} (how often this movement has run)",
    ]
    parent = piece.parent_of(movement.name)
    if parent is not None:
        others = [s.name for s in parent.parallel if s.name != movement.name]
        lines.append(
            f"- Runs in parallel inside {parent.name!r} alongside {', '.join(others) or 'nothing'}"
        )
    if movement.persona_name:
        lines.append(f"- You act as: {movement.persona_name}")
    if (mode := _working_mode(movement)) is not None:
        lines.append(f"- Working mode: {mode}")
    if movement.output_contracts:
        lines.append(f"- Report directory: {ctx.report_dir}")
    if ctx.cycle_count:
        lines.append(f"- Loop cycles so far: {ctx.cycle_count}")
    return "\n".join(lines)


def _instruction(piece: Piece, movement: Movement, ctx: PromptContext) -> str | None:
    text = expand(movement.instruction, ctx, piece.max_movements) if movement.instruction else ""
    if movement.quality_gates:
        gates = "\n".join(f"- [ ] {g}" for g in movement.quality_gates)
        text = f"{text}\n\n## Quality gates\nDo not finish before each holds:\n{gates}"
    return _section("Instruction", text)


def _reports(movement: Movement) -> str | None:
    if not movement.output_contracts:
        return None
    parts = [
        "Include each report below in your reply as its own block, exactly in this form "
        "(the block is stored as the report file):",
        report_block(movement.output_contracts[0].name, "...the report, in Markdown..."),
    ]
    for c in movement.output_contracts:
        title = f"## {c.name}" + (f" ({c.label})" if c.label else "")
        parts.append(f"{title}\n\n{c.format.strip()}" if c.format else title)
    return _section("Reports", "\n\n".join(parts))


def status_lines(rules: list[Rule]) -> str:
    lines = []
    for rule in rules:
        if rule.kind in ("all", "any"):
            continue
        lines.append(f"[STEP:{rule.index}] = {rule.condition}")
        if rule.appendix:
            extra = "\n".join(f"    {line}" for line in rule.appendix.strip().splitlines())
            lines.append(f"  If you choose this, also include:\n{extra}")
    return "\n".join(lines)


def _status(movement: Movement) -> str | None:
    listed = status_lines(movement.rules)
    if not listed:
        return None
    return _section(
        "Status",
        "When you are done, end your reply with the one status tag whose condition matches "
        "the outcome, alone on the last line (for example [STEP:0]):\n\n" + listed,
    )


def build_prompt(piece: Piece, movement: Movement, ctx: PromptContext) -> str:
    template = movement.instruction
    place_previous = movement.pass_previous_response and not mentions(template, "previous_response")
    sections = [
        _section("Persona", movement.persona),
        _section("Policies", _SEPARATOR.join(movement.policies)),
        _section("Execution context", execution_context(piece, movement, ctx)),
        _section("Knowledge", _SEPARATOR.join(movement.knowledge)),
        _section("Notes from earlier jobs", ctx.notes),
        _section("Handoff from the previous attempt", ctx.handoff),
        _instruction(piece, movement, ctx),
        None if mentions(template, "task") else _section("Task", ctx.task),
        _section("Previous response", ctx.previous_response) if place_previous else None,
        None
        if mentions(template, "user_inputs") or not ctx.user_inputs
        else _section("User inputs received during this job", format_user_inputs(ctx.user_inputs)),
        _reports(movement),
        _status(movement),
        _section(
            "Reminder",
            "Keep to the policies above; they override speed and convenience."
            if movement.policies
            else None,
        ),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"
