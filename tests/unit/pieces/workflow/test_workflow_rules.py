"""Rule evaluation in the workflow dialect (SEMANTICS.md §3.4, §4), through next_step."""

from __future__ import annotations

import pytest

from pieces.model import DynamicParallel, Movement, Piece, Rule
from pieces.program import (
    EXECUTE,
    JUDGE_AI,
    JUDGE_STRUCTURED,
    JUDGE_TAG,
    Answer,
    Call,
    MovementSpec,
    Outcome,
    SubResult,
    next_step,
)
from pieces.workflow.conditions import parse_condition, rule_fields
from pieces.workflow_rules import RULE_NO_MATCH, call_result_rule, routes_errors


def rules(*specs) -> list[Rule]:
    out = []
    for i, spec in enumerate(specs):
        raw, target = spec if isinstance(spec, tuple) else (spec, None)
        kind, label, args, when = rule_fields(parse_condition(raw))
        extra = {}
        if isinstance(target, dict):
            extra, target = target, None
        out.append(
            Rule(
                index=i,
                condition=raw,
                kind=kind,
                label=label,
                args=args,
                when=when,
                next=target,
                **extra,
            )
        )
    return out


def spec(movement: Movement, state=None, interactive=False, subs=()) -> MovementSpec:
    piece = Piece(
        name="w", dialect="workflow", initial_movement=movement.name, movements=[movement]
    )
    return MovementSpec(
        piece,
        movement,
        "do it",
        state=state or {},
        interactive=interactive,
        sub_results=tuple(subs),
    )


def run(s: MovementSpec, *answers: Answer) -> Call | Outcome:
    return next_step(s, [Answer(EXECUTE, "the work is done"), *answers])


# The example of SEMANTICS.md §2/§3.4: [when(x)→A, "ok"→B, "ok && when(y)"→C, "ng"→D].
EXAMPLE = Movement(
    name="review",
    rules=rules(
        ("when(structured.review.x)", "A"),
        ("ok", "B"),
        ("ok && when(structured.review.y)", "C"),
        ("ng", "D"),
    ),
)


def state(x: bool, y: bool = False) -> dict:
    return {"structured": {"review": {"x": x, "y": y}}}


def test_a_deterministic_rule_before_the_first_label_wins_without_a_judge() -> None:
    out = run(spec(EXAMPLE, state(x=True)))
    assert isinstance(out, Outcome)
    assert (out.status, out.rule_index, out.method) == ("done", 0, "auto_select")


def test_otherwise_phase_3_numbers_the_distinct_labels() -> None:
    call = run(spec(EXAMPLE, state(x=False)))
    assert isinstance(call, Call) and call.kind == JUDGE_STRUCTURED and call.judge
    assert "| 1 | ok | `[REVIEW:1]` |" in call.prompt
    assert "| 2 | ng | `[REVIEW:2]` |" in call.prompt
    assert "ok && when" not in call.prompt


@pytest.mark.parametrize(
    ("step", "y", "index"),
    [(1, False, 1), (1, True, 1), (2, False, 3), (2, True, 3)],
)
def test_then_all_rules_in_yaml_order_first_match_wins(step: int, y: bool, index: int) -> None:
    out = run(
        spec(EXAMPLE, state(x=False, y=y)), Answer(JUDGE_STRUCTURED, structured={"step": step})
    )
    assert isinstance(out, Outcome)
    assert (out.rule_index, out.method) == (index, "structured_output")


def test_label_and_when_needs_both() -> None:
    mv = Movement(
        name="s", rules=rules(("ok && when(structured.s.go)", "C"), ("ok", "B"), ("ng", "D"))
    )
    st = {"structured": {"s": {"go": False}}}
    out = run(spec(mv, st), Answer(JUDGE_STRUCTURED, structured={"step": 1}))
    assert out.rule_index == 1
    st["structured"]["s"]["go"] = True
    out = run(spec(mv, st), Answer(JUDGE_STRUCTURED, structured={"step": 1}))
    assert out.rule_index == 0


def test_the_judge_stages_come_in_order_and_then_rule_no_match() -> None:
    s = spec(EXAMPLE, state(x=False))
    bad_structured = Answer(JUDGE_STRUCTURED, structured={"step": 9})
    tag_call = run(s, bad_structured)
    assert isinstance(tag_call, Call) and tag_call.kind == JUDGE_TAG
    out = run(s, bad_structured, Answer(JUDGE_TAG, "[REVIEW:2]"))
    assert (out.rule_index, out.method) == (3, "phase3_tag")
    ai_call = run(s, bad_structured, Answer(JUDGE_TAG, "no tag"))
    assert isinstance(ai_call, Call) and ai_call.kind == JUDGE_AI
    assert "| 1 | ok |" in ai_call.prompt and "| 2 | ng |" in ai_call.prompt
    out = run(s, bad_structured, Answer(JUDGE_TAG, "no tag"), Answer(JUDGE_AI, "[JUDGE:1]"))
    assert (out.rule_index, out.method) == (1, "ai_judge")
    out = run(s, bad_structured, Answer(JUDGE_TAG, "x"), Answer(JUDGE_AI, "[JUDGE:5]"))
    assert (out.status, out.failure) == ("error", RULE_NO_MATCH)


def test_no_phase_1_tag_fallback() -> None:
    s = spec(EXAMPLE, state(x=False))
    out = next_step(
        s,
        [
            Answer(EXECUTE, "[REVIEW:2] done"),
            Answer(JUDGE_STRUCTURED, status="error"),
            Answer(JUDGE_TAG, "?"),
            Answer(JUDGE_AI, "?"),
        ],
    )
    assert (out.status, out.failure) == ("error", RULE_NO_MATCH)


def test_one_label_is_taken_without_a_call() -> None:
    mv = Movement(name="s", rules=rules(("when(structured.s.v == 2)", "X"), ("done", "COMPLETE")))
    out = run(spec(mv, {"structured": {"s": {"v": 1}}}))
    assert (out.rule_index, out.method) == (1, "auto_select")


def test_interactive_only_rules_are_skipped_when_no_one_is_there() -> None:
    mv = Movement(
        name="s",
        rules=rules(
            ("ask", {"requires_user_input": True, "interactive_only": True}), ("done", "C")
        ),
    )
    out = run(spec(mv))
    assert (out.rule_index, out.method) == (1, "auto_select")
    call = run(spec(mv, interactive=True))
    assert isinstance(call, Call) and call.kind == JUDGE_STRUCTURED


def test_only_deterministic_rules_and_none_holds() -> None:
    mv = Movement(name="s", rules=rules(("when(structured.s.v == 2)", "X"), ("when(false)", "Y")))
    out = run(spec(mv, {"structured": {"s": {"v": 1}}}))
    assert (out.status, out.failure) == ("error", RULE_NO_MATCH)


def test_missing_state_aborts_with_the_evaluators_message() -> None:
    out = run(spec(EXAMPLE, {}))
    assert out.status == "error"
    assert (
        out.failure == 'Step execution failed: Missing workflow state scope "review" in structured'
    )


def test_reports_are_judged_and_a_missing_report_falls_back_to_the_answer() -> None:
    from pieces.model import OutputContract

    mv = EXAMPLE.model_copy(update={"output_contracts": [OutputContract(name="r.md")]})
    s = spec(mv, state(x=False))
    call = next_step(s, [Answer(EXECUTE, "answer"), Answer("report", "REPORT BODY", name="r.md")])
    assert isinstance(call, Call) and "# r.md\n\nREPORT BODY" in call.prompt
    # Both report attempts failed: the workflow dialect judges the Phase 1 answer.
    call = next_step(
        s,
        [
            Answer(EXECUTE, "answer"),
            Answer("report", "", name="r.md"),
            Answer("report_retry", "", name="r.md"),
        ],
    )
    assert isinstance(call, Call) and "## Agent Response\n\nanswer" in call.prompt


# --- parallel parents ----------------------------------------------------------------------


def member(name: str, *labels: str) -> Movement:
    return Movement(name=name, rules=rules(*labels))


PARALLEL = Movement(
    name="reviewers",
    kind="parallel",
    parallel=[member("alpha", "ok", "fail"), member("beta", "ok", "fail")],
    rules=rules(
        ('any("error")', "recover"),
        ('all("ok")', "COMPLETE"),
        ('all("ok", "fail")', "fix-beta"),
        ('any("fail")', "fix-all"),
    ),
)


@pytest.mark.parametrize(
    ("alpha", "beta", "index"),
    [("ok", "ok", 1), ("ok", "fail", 2), ("fail", "ok", 3), ("fail", "fail", 3)],
)
def test_aggregates(alpha: str, beta: str, index: int) -> None:
    subs = [SubResult("alpha", "A", alpha), SubResult("beta", "B", beta)]
    out = next_step(spec(PARALLEL, subs=subs), [])
    assert (out.status, out.rule_index, out.method) == ("done", index, "aggregate")
    assert out.content == "## alpha\nA\n\n---\n\n## beta\nB"


def test_a_failed_member_counts_as_error_when_a_rule_routes_it() -> None:
    subs = [SubResult("alpha", "", None, error="boom"), SubResult("beta", "B", "ok")]
    out = next_step(spec(PARALLEL, subs=subs), [])
    assert (out.status, out.rule_index) == ("done", 0)
    assert "## alpha\n[ERROR]\nstatus: error\nfailureCategory: none\ndetail: boom" in out.content


def test_without_an_error_rule_any_failed_member_fails_the_step() -> None:
    mv = PARALLEL.model_copy(update={"rules": PARALLEL.rules[1:]})
    assert not routes_errors(mv) and routes_errors(PARALLEL)
    subs = [SubResult("alpha", "A", "ok"), SubResult("beta", "", None, error="timed out")]
    out = next_step(spec(mv, subs=subs), [])
    assert (out.status, out.failure) == ("error", 'Step "reviewers" failed: timed out')


def test_canonical_conditions_are_compared() -> None:
    mv = Movement(
        name="p",
        kind="parallel",
        parallel=[member("a", "ok && when(true)")],
        rules=rules(('all("ok && when(true)")', "COMPLETE")),
    )
    out = next_step(spec(mv, subs=[SubResult("a", "", "ok&&when(true)")]), [])
    assert (out.status, out.rule_index) == ("done", 0)


def test_a_parallel_parent_with_labels_is_judged_on_the_aggregated_output() -> None:
    mv = PARALLEL.model_copy(
        update={"rules": rules(('all("ok")', "C"), ("mixed", "X"), ("bad", "Y"))}
    )
    subs = [SubResult("alpha", "A", "ok"), SubResult("beta", "B", "fail")]
    call = next_step(spec(mv, subs=subs), [])
    assert isinstance(call, Call) and call.kind == JUDGE_STRUCTURED
    assert "## Agent Response\n\n## alpha\nA" in call.prompt
    out = next_step(spec(mv, subs=subs), [Answer(JUDGE_STRUCTURED, structured={"step": 2})])
    assert out.rule_index == 2


def test_dynamic_participants_are_the_members_that_ran() -> None:
    mv = Movement(
        name="review",
        kind="parallel",
        parallel=[
            member("fixed", "approved", "needs"),
            member("p1", "approved", "needs"),
            member("p2", "approved", "needs"),
        ],
        dynamic=DynamicParallel(fixed=["fixed"], pool=["p1", "p2"]),
        rules=rules(('all("approved")', "COMPLETE"), ('any("needs")', "again")),
    )
    subs = [SubResult("fixed", "", "approved"), SubResult("p2", "", "approved")]
    out = next_step(spec(mv, subs=subs), [])
    assert (out.rule_index, out.method) == (0, "aggregate")
    subs = [SubResult("fixed", "", "approved"), SubResult("p1", "", "needs && when(true)")]
    out = next_step(spec(mv, subs=subs), [])
    assert out.rule_index == 1


def test_a_workflow_call_result_picks_its_rule() -> None:
    mv = Movement(
        name="call",
        kind="workflow_call",
        rules=rules(
            ("COMPLETE", "n"),
            ("needs_fix", {"interactive_only": True}),
            ("needs_fix", "m"),
            ("ABORT", "ABORT"),
        ),
    )
    assert call_result_rule(mv, "COMPLETE") == 0
    assert call_result_rule(mv, "needs_fix") == 2
    assert call_result_rule(mv, "needs_fix", interactive=True) == 1
    assert call_result_rule(mv, "other") is None
