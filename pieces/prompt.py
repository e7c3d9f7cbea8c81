"""The Phase 1 prompt and the system prompt, in TAKT's section order (SEMANTICS.md §6).

Phase 1 sections: Execution Context, Execution Rules, Knowledge, (legato: Notes from
Earlier Jobs), Piece Context, Retry Note, User Request, Previous Response, Additional
User Inputs, Instructions, Quality Gates, Policy. The prompt holds **no** status rules:
the rule is chosen afterwards, by Phase 3. The wording is legato's own.
"""

from __future__ import annotations

from pieces.model import Movement, Piece
from pieces.variables import (
    SOURCE_NOTICE,
    PromptContext,
    escape_braces,
    prepared_previous_response,
    replace_placeholders,
    report_path,
    truncate,
)

JOIN = "\n\n---\n\n"


def _edit_rule(edit: bool | None, step: str) -> str | None:
    if edit is True:
        return (
            f"**Editing is allowed in this {step}.** Create, change and delete files as the "
            "request needs."
        )
    if edit is False:
        return (
            f"**Editing is not allowed in this {step}.** Do not create, change or delete "
            "project files; read and search only. Reports are written in a later phase."
        )
    return None


def _sourced(text: str, source: str | None) -> str:
    body, cut = truncate(text)
    lines = [body]
    if source and cut:
        lines += ["", f"Source: {source}", "", SOURCE_NOTICE]
    return "\n".join(lines)


def structure_lines(piece: Piece, current: str) -> list[str]:
    piece_word, step = piece.words
    lines = [f"This {piece_word} has {len(piece.movements)} {step}s:"]
    for i, mv in enumerate(piece.movements, 1):
        desc = f" ({mv.description})" if mv.description else ""
        marker = " <- current" if mv.name == current else ""
        lines.append(f"- {step.capitalize()} {i}: {mv.name}{desc}{marker}")
    return lines


def report_info(movement: Movement, report_dir: str) -> str:
    lines = [f"- Report Directory: {report_dir.rstrip('/')}/"]
    if len(movement.output_contracts) == 1:
        name = movement.output_contracts[0].name
        lines.append(f"- Report File: {report_path(report_dir, name)}")
    else:
        lines.append("- Report Files:")
        lines += [
            f"  - {c.name}: {report_path(report_dir, c.name)}" for c in movement.output_contracts
        ]
    return "\n".join(lines)


def phase1_prompt(
    piece: Piece,
    movement: Movement,
    ctx: PromptContext,
    *,
    knowledge_source: str | None = None,
    policy_source: str | None = None,
) -> str:
    piece_word, step = piece.words
    template = movement.instruction
    out: list[str] = ["## Execution Context", f"- Working Directory: {ctx.working_dir}", ""]

    out.append("## Execution Rules")
    if piece.dialect == "piece" or not movement.allow_git_commit:
        out.append(
            "- **Do not run `git commit` or `git add`.** legato commits the workspace after "
            f"each {step}; untracked files are expected."
        )
    out.append("- **Do not `cd` in shell commands.** The working directory is already right.")
    if rule := _edit_rule(movement.edit, step):
        out.append(f"- {rule}")
    for prose in piece.all_steps_rules:
        out.append(prose)
    out.append("This section is metadata; answer in the language of the rest of the prompt.")

    if movement.knowledge:
        out += ["", "## Knowledge", "Reference material for this " + step + "; it may be cut."]
        out += ["", _sourced(JOIN.join(movement.knowledge), knowledge_source)]
    if ctx.notes:
        out += ["", "## Notes from Earlier Jobs", ctx.notes.strip()]

    out += [
        "",
        f"## {piece_word.capitalize()} Context",
        f"- {piece_word.capitalize()}: {piece.name}",
    ]
    if piece.description:
        out += [f"- Description: {piece.description}", ""]
    out += structure_lines(piece, movement.name)
    limit = "infinite" if piece.max_movements is None else piece.max_movements
    out += [
        "",
        f"- Iteration: {ctx.iteration}/{limit} ({piece_word}-wide)",
        f"- {step.capitalize()} Iteration: {ctx.movement_iteration} (times this {step} has run)",
        f"- {step.capitalize()}: {movement.name}",
    ]
    if movement.output_contracts:
        out += [
            report_info(movement, ctx.report_dir),
            "",
            "**Note:** this is Phase 1, the work itself. The reports are written afterwards, "
            "in Phase 2, from what you find here.",
        ]

    if ctx.retry_note:
        out += ["", "## Retry Note", escape_braces(ctx.retry_note)]
    if "{task}" not in template:
        out += ["", "## User Request", escape_braces(ctx.task)]
    if (
        movement.pass_previous_response
        and ctx.previous_response
        and "{previous_response}" not in template
    ):
        out += ["", "## Previous Response", escape_braces(prepared_previous_response(ctx))]
    if "{user_inputs}" not in template:
        out += ["", "## Additional User Inputs", escape_braces("\n".join(ctx.user_inputs))]
    for prose in piece.all_steps_rules_before:
        out += ["", prose]

    instructions = replace_placeholders(
        template,
        ctx,
        max_movements=piece.max_movements,
        pass_previous_response=movement.pass_previous_response,
        dialect=piece.dialect,
    )
    out += ["", "## Instructions", instructions]
    if movement.quality_gates:
        out += ["", "## Quality Gates", f"Before this {step} is finished, each must hold:", ""]
        out += [f"- {gate}" for gate in movement.quality_gates]
    if movement.policies:
        out += ["", "## Policy", f"These policies bind this {step}; follow them."]
        out += ["", _sourced(JOIN.join(movement.policies), policy_source)]
    return "\n".join(out) + "\n"


def system_prompt(
    piece: Piece, movement: Movement, persona: str | None = None, persona_file: bool | None = None
) -> str | None:
    """The persona, framed with the piece's flow when it came from a file (TAKT's rule)."""
    persona = movement.persona if persona is None else persona
    from_file = movement.persona_file if persona_file is None else persona_file
    if not persona:
        return None
    if not from_file:
        return persona
    piece_word, step = piece.words
    names = [mv.name for mv in piece.movements]
    position = f"{names.index(movement.name) + 1}/{len(names)}" if movement.name in names else "?/?"
    flow = "\n".join(
        f"{i}. {mv.name}" + (f" - {mv.description}" if mv.description else "")
        for i, mv in enumerate(piece.movements, 1)
    )
    return "\n".join(
        [
            "# legato",
            "",
            f"You are one agent in a multi-agent {piece_word} run by legato: each {step} is "
            "handled by an agent, and the results flow from one to the next.",
            "",
            "## Where you are",
            f"- {piece_word.capitalize()}: {piece.name}",
            f"- Current {step.capitalize()}: {movement.name}",
            "- Processing Flow:",
            flow,
            f"- Current Position: {position}",
            "",
            f"Keep the {step}s before and after yours in mind.",
            "",
            "---",
            "",
            persona,
        ]
    )
