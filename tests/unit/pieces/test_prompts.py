"""Prompt assembly against SEMANTICS.md §6: order, placeholders, cuts, escaping, framing."""

from __future__ import annotations

from pieces import OutputContract, PromptContext, phase1_prompt, system_prompt
from pieces.aggregate import aggregated_output, first_aggregate
from pieces.judgment import candidates, judged_content, phase3_prompt
from pieces.reports import phase2_prompt, safe_report_name, versioned_name
from pieces.variables import replace_placeholders

from .helpers import movement, parallel, piece

SECTIONS = [
    "## Execution Context",
    "## Execution Rules",
    "## Knowledge",
    "## Notes from Earlier Jobs",
    "## Piece Context",
    "## Retry Note",
    "## User Request",
    "## Previous Response",
    "## Additional User Inputs",
    "## Instructions",
    "## Quality Gates",
    "## Policy",
]


def full_context(**kw) -> PromptContext:
    values = dict(
        task="Fix {the} bug",
        iteration=3,
        movement_iteration=2,
        previous_response="previous {answer}",
        user_inputs=["first input", "second {input}"],
        report_dir="/ws/reports",
        working_dir="/ws",
        notes="- a lesson",
        retry_note="attempt 1 failed",
    )
    values.update(kw)
    return PromptContext(**values)


def test_phase1_sections_come_in_takts_order() -> None:
    mv = movement(
        "ok",
        name="work",
        knowledge=["KNOW"],
        policies=["POLICY"],
        quality_gates=["tests pass"],
        instruction="Do the work.",
        edit=True,
    )
    text = phase1_prompt(piece(mv, max_movements=7), mv, full_context())
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert "- Iteration: 3/7 (piece-wide)" in text
    assert "- Movement Iteration: 2 (times this movement has run)" in text
    assert "**Editing is allowed in this movement.**" in text
    assert "- tests pass" in text
    assert "[WORK:" not in text and "Decision Criteria" not in text  # no status rules


def test_user_text_has_its_braces_escaped() -> None:
    mv = movement("ok", instruction="Do it.")
    text = phase1_prompt(piece(mv), mv, full_context())
    assert "Fix ｛the｝ bug" in text
    assert "previous ｛answer｝" in text
    assert "second ｛input｝" in text


def test_placeholders_replace_sections_that_would_repeat_them() -> None:
    mv = movement(
        "ok", instruction="Task: {task}. Before: {previous_response}. Inputs: {user_inputs}"
    )
    text = phase1_prompt(piece(mv), mv, full_context())
    assert "## User Request" not in text
    assert "## Previous Response" not in text
    assert "## Additional User Inputs" not in text
    assert "Task: Fix ｛the｝ bug." in text


def test_previous_response_is_left_out_when_not_passed() -> None:
    mv = movement("ok", instruction="Before: {previous_response}", pass_previous_response=False)
    text = phase1_prompt(piece(mv), mv, full_context())
    assert "{previous_response}" in text  # left as written, as TAKT leaves it
    assert "## Previous Response" not in text


def test_long_knowledge_policy_and_previous_response_are_cut_at_2000() -> None:
    mv = movement("ok", knowledge=["K" * 3000], policies=["P" * 3000], instruction="x")
    text = phase1_prompt(
        piece(mv), mv, full_context(previous_response="R" * 3000), knowledge_source="/ws/k.md"
    )
    assert "K" * 2000 + "\n...TRUNCATED..." in text and "K" * 2001 not in text
    assert "P" * 2000 + "\n...TRUNCATED..." in text
    assert "R" * 2000 + "\n...TRUNCATED..." in text
    assert "Source: /ws/k.md" in text


def test_report_placeholders_by_dialect() -> None:
    ctx = full_context(reports={"plan.md": "THE PLAN"})
    as_piece = replace_placeholders(
        "{report:plan.md}", ctx, max_movements=5, pass_previous_response=True
    )
    assert as_piece == "/ws/reports/plan.md"
    as_workflow = replace_placeholders(
        "{report:plan.md} {report:none.md} {max_steps}",
        ctx,
        max_movements=None,
        pass_previous_response=True,
        dialect="workflow",
    )
    assert as_workflow == "THE PLAN (the report none.md does not exist in this run) infinite"


def test_system_prompt_frames_a_persona_file_and_passes_literal_text() -> None:
    a = movement("ok", name="plan", persona="You plan.", persona_file=True, description="plans")
    b = movement("ok", name="build", persona="builder")
    p = piece(a, b)
    framed = system_prompt(p, a)
    assert framed.endswith("You plan.")
    assert "1. plan - plans\n2. build" in framed and "Current Position: 1/2" in framed
    assert system_prompt(p, b) == "builder"
    assert system_prompt(p, movement("ok", name="none")) is None


def test_phase2_prompt_names_one_file_and_forbids_tools() -> None:
    mv = movement("ok", name="write")
    contract = OutputContract(
        name="plan.md", format="# Plan\n{movement_iteration}", order="Write it."
    )
    text = phase2_prompt(
        piece(mv), mv, contract, working_dir="/ws", report_dir="/ws/reports", movement_iteration=4
    )
    assert "- Report File: /ws/reports/plan.md" in text
    assert "No tools are available" in text
    assert text.index("Write it.") < text.index("# Plan\n4")
    assert "## Previous Work Context" not in text


def test_report_names_stay_inside_the_folder() -> None:
    assert safe_report_name("00-plan.md") and safe_report_name("sub/notes.md")
    for bad in ("../x.md", "/etc/passwd", "a/../../b", "", "a\\b"):
        assert not safe_report_name(bad)
    assert versioned_name("plan.md", "20260101T000000Z", 0) == "plan.md.20260101T000000Z"
    assert versioned_name("plan.md", "20260101T000000Z", 2) == "plan.md.20260101T000000Z.2"


def test_phase3_prompt_has_the_criteria_table_and_appendix() -> None:
    mv = movement("Approved", "Needs work", name="review")
    mv = mv.model_copy(
        update={"rules": [mv.rules[0], mv.rules[1].model_copy(update={"appendix": "List:\n- x\n"})]}
    )
    cands = candidates(piece(mv), mv, interactive=False)
    content, source = judged_content(mv, {}, "the answer")
    assert source == "response" and content == "\n## Agent Response\n\nthe answer"
    tag = phase3_prompt(mv, cands, content, structured=False)
    assert "| # | Condition | Tag |\n|---|------|------|\n| 1 | Approved | `[REVIEW:1]` |" in tag
    assert "- `[REVIEW:2]` — Needs work" in tag
    assert "### Appendix Template" in tag and "```\nList:\n- x\n```" in tag
    structured = phase3_prompt(mv, cands, content, structured=True)
    assert (
        "## Task" in structured
        and "Appendix" not in structured
        and "Output Format" not in structured
    )


def test_aggregates_match_takts_truth_table() -> None:
    par = parallel(
        {"a": ["ok", "fail"], "b": ["ok", "fail"]},
        'all("ok")',
        'all("ok", "fail")',
        'any("x", "fail")',
    )
    assert first_aggregate(par, {"a": "ok", "b": "ok"}) == 0
    assert first_aggregate(par, {"a": "ok", "b": "fail"}) == 1
    assert first_aggregate(par, {"a": "fail", "b": "ok"}) == 2  # positional all() fails
    assert first_aggregate(par, {"a": None, "b": "ok"}) == -1  # no outcome satisfies nothing
    wrong_count = parallel({"a": ["ok"], "b": ["ok"], "c": ["ok"]}, 'all("ok", "ok")')
    assert first_aggregate(wrong_count, {"a": "ok", "b": "ok", "c": "ok"}) == -1
    assert aggregated_output([("a", "A"), ("b", "B")]) == "## a\nA\n\n---\n\n## b\nB"
