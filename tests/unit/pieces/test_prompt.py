"""Variable expansion and prompt assembly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pieces import Movement, OutputContract, Piece, PromptContext, Rule, build_prompt, expand

from .helpers import rules

CTX = PromptContext(
    task="Fix the login bug",
    iteration=3,
    movement_iteration=2,
    previous_response="PREVIOUS OUTPUT",
    user_inputs=["use OAuth", "keep it small"],
    reports={"00-plan.md": "PLAN BODY"},
    report_dir="out/reports",
    cycle_count=4,
    notes="NOTE BODY",
    handoff="HANDOFF BODY",
)


def test_every_variable() -> None:
    template = (
        "{task}|{iteration}|{max_movements}|{movement_iteration}|{previous_response}|"
        "{user_inputs}|{report_dir}|{report:00-plan.md}|{cycle_count}"
    )
    assert expand(template, CTX, 30) == (
        "Fix the login bug|3|30|2|PREVIOUS OUTPUT|- use OAuth\n- keep it small|"
        "out/reports|PLAN BODY|4"
    )


def test_defaults_and_placeholders() -> None:
    ctx = PromptContext(task="t")
    assert expand("{previous_response}", ctx, 5) == "(no previous response)"
    assert expand("{user_inputs}", ctx, 5) == "(none)"
    assert (
        expand("{report: 09-x.md }", ctx, 5)
        == "(report 09-x.md has not been written yet in this job)"
    )
    assert expand("{iteration}/{movement_iteration}/{cycle_count}", ctx, 5) == "1/1/0"


def test_report_stem_shorthand_when_unambiguous() -> None:
    ctx = PromptContext(task="t", reports={"plan.md": "P", "a.md": "A1", "a.txt": "A2"})
    assert expand("{report:plan}", ctx, 5) == "P"
    assert expand("{report:a}", ctx, 5).startswith("(report a has not")


def test_unknown_braces_are_left_alone() -> None:
    text = 'JSON {"a": 1} and {unknown} and {{task}} and {report:}'
    assert (
        expand(text, CTX, 5) == 'JSON {"a": 1} and {unknown} and {Fix the login bug} and {report:}'
    )


@given(st.text(alphabet=st.characters(blacklist_characters="{"), max_size=200))
def test_text_without_braces_is_unchanged(text: str) -> None:
    assert expand(text, CTX, 7) == text


@given(st.text(max_size=60))
def test_substituted_values_are_not_expanded_again(task: str) -> None:
    ctx = PromptContext(task=task + "{iteration}{report:00-plan.md}", iteration=9)
    assert expand("<{task}>", ctx, 5) == f"<{task}{{iteration}}{{report:00-plan.md}}>"


def _piece(movement: Movement) -> Piece:
    return Piece(
        name="p", description="a test piece", initial_movement=movement.name, movements=[movement]
    )


FULL = Movement(
    name="implement",
    persona="PERSONA BODY",
    persona_name="Coder",
    policies=["POLICY ONE", "POLICY TWO"],
    knowledge=["KNOWLEDGE BODY"],
    instruction="INSTRUCTION for iteration {iteration}",
    edit=True,
    quality_gates=["tests pass"],
    output_contracts=[OutputContract(name="01-impl.md", label="Impl", format="FORMAT BODY")],
    rules=[
        Rule(index=0, condition="Done", next="COMPLETE"),
        Rule(index=1, condition="Judged thing", kind="ai", next="ABORT", appendix="Why:\n- x"),
    ],
)


def test_sections_in_the_documented_order() -> None:
    prompt = build_prompt(_piece(FULL), FULL, CTX)
    markers = [
        "PERSONA BODY",
        "POLICY ONE",
        "POLICY TWO",
        "# Execution context",
        "KNOWLEDGE BODY",
        "NOTE BODY",
        "HANDOFF BODY",
        "INSTRUCTION for iteration 3",
        "- [ ] tests pass",
        "# Task\n\nFix the login bug",
        "# Previous response\n\nPREVIOUS OUTPUT",
        "- use OAuth",
        '<report name="01-impl.md">',
        "FORMAT BODY",
        "[STEP:0] = Done",
        "[STEP:1] = Judged thing",
        "# Reminder",
    ]
    positions = [prompt.index(m) for m in markers]
    assert positions == sorted(positions)
    assert prompt.rstrip().endswith("convenience.")


def test_execution_context() -> None:
    prompt = build_prompt(_piece(FULL), FULL, CTX)
    assert "- Piece: p — a test piece" in prompt
    assert "- Movement: implement" in prompt
    assert "- Iteration: 3 of at most 30 movements" in prompt
    assert "- Movement iteration: 2" in prompt
    assert "- You act as: Coder" in prompt
    assert "- Working mode: edit" in prompt
    assert "- Report directory: out/reports" in prompt


def test_appendix_is_shown_with_its_rule() -> None:
    prompt = build_prompt(_piece(FULL), FULL, CTX)
    assert (
        "[STEP:1] = Judged thing\n  If you choose this, also include:\n    Why:\n    - x" in prompt
    )


def test_task_and_previous_response_are_not_repeated_when_placed() -> None:
    mv = Movement(
        name="m",
        instruction="Do {task}; before: {previous_response}; inputs: {user_inputs}",
        rules=rules(("Done", "COMPLETE")),
    )
    prompt = build_prompt(_piece(mv), mv, CTX)
    assert prompt.count("Fix the login bug") == 1
    assert prompt.count("PREVIOUS OUTPUT") == 1
    assert prompt.count("use OAuth") == 1
    assert "# Task" not in prompt and "# Previous response" not in prompt


def test_previous_response_left_out_when_not_passed() -> None:
    mv = Movement(name="m", pass_previous_response=False, rules=rules(("Done", "COMPLETE")))
    prompt = build_prompt(_piece(mv), mv, CTX)
    assert "PREVIOUS OUTPUT" not in prompt
    assert "# Task\n\nFix the login bug" in prompt


def test_minimal_movement_has_no_empty_sections() -> None:
    mv = Movement(name="m", rules=rules(("Done", "COMPLETE")))
    prompt = build_prompt(_piece(mv), mv, PromptContext(task="T"))
    for absent in (
        "# Persona",
        "# Policies",
        "# Knowledge",
        "# Instruction",
        "# Reports",
        "# Reminder",
        "# Notes",
        "# Handoff",
        "# Previous response",
        "User inputs",
    ):
        assert absent not in prompt
    assert "# Task\n\nT" in prompt and "[STEP:0] = Done" in prompt


def test_aggregate_rules_are_not_offered_as_tags() -> None:
    sub = Movement(name="s", rules=rules(("ok", None)))
    par = Movement(
        name="par",
        parallel=[sub],
        rules=[Rule(index=0, condition='all("ok")', kind="all", args=["ok"], next="COMPLETE")],
    )
    piece = Piece(name="p", initial_movement="par", movements=[par])
    assert "# Status" not in build_prompt(piece, par, CTX)
    sub_prompt = build_prompt(piece, sub, CTX)
    assert "[STEP:0] = ok" in sub_prompt
    assert "Runs in parallel inside 'par'" in sub_prompt


def test_read_only_working_mode() -> None:
    mv = Movement(name="m", required_permission_mode="readonly")
    assert "Working mode: read-only" in build_prompt(_piece(mv), mv, CTX)
