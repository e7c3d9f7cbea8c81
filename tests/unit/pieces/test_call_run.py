"""A workflow_call step at run time (pieces/call_run.py) and its routing: the result a
called workflow's end gives, the called piece, the shared budget (TAKT v0.60,
WorkflowCallRunner.ts, WorkflowCallExecutor.ts, WorkflowRunLoop.ts)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pieces import Movement, Outcome, Piece, Rule, route
from pieces.call_run import (
    ChildEnd,
    call_label,
    call_outcome,
    called_piece,
    over_budget,
    report_segment,
    steps_before,
    steps_used,
)
from pieces.workflow_rules import RULE_NO_MATCH


def _rule(i: int, label: str, nxt: str | None, **kw) -> Rule:
    return Rule(index=i, condition=label, label=label, next=nxt, **kw)


CALL = Movement(
    name="review",
    kind="workflow_call",
    call="callee",
    vars={"review_mode": "initial", "strict": True, "rounds": 2},
    rules=[
        _rule(0, "needs_input", "draft", interactive_only=True),
        _rule(1, "COMPLETE", "publish"),
        _rule(2, "needs_rework", "draft"),
        _rule(3, "needs_input", "ABORT"),
        _rule(4, "ABORT", "ABORT"),
    ],
)
DRAFT = Movement(name="draft", rules=[_rule(0, "done", "review")])
PUBLISH = Movement(name="publish", rules=[_rule(0, "done", "COMPLETE")])
CALLEE = Piece(
    name="callee",
    dialect="workflow",
    max_movements=50,
    initial_movement="check",
    movements=[Movement(name="check", rules=[_rule(0, "ok", "COMPLETE")])],
    vars={"review_mode": "outer", "depth": "1"},
)
CALLER = Piece(
    name="caller",
    dialect="workflow",
    max_movements=6,
    initial_movement="draft",
    movements=[DRAFT, CALL, PUBLISH],
    callees={"callee": CALLEE},
    vars={"depth": "0"},
)


def test_the_label_is_the_returned_one_else_complete_or_abort() -> None:
    assert call_label(ChildEnd("succeeded")) == "COMPLETE"
    assert call_label(ChildEnd("succeeded", returned="needs_rework")) == "needs_rework"
    assert call_label(ChildEnd("failed")) == "ABORT"
    assert call_label(ChildEnd("cancelled")) == "ABORT"


def test_complete_takes_its_rule_with_the_last_output() -> None:
    out = call_outcome(CALL, ChildEnd("succeeded", last_output="signed"))
    assert (out.status, out.rule_index, out.method, out.content) == (
        "done",
        1,
        "workflow_call",
        "signed",
    )
    assert out.call_failure is None and out.abort_kind is None
    assert call_outcome(CALL, ChildEnd("succeeded")).content == "COMPLETE"


def test_a_returned_label_takes_the_first_visible_rule_for_it() -> None:
    reworked = call_outcome(CALL, ChildEnd("succeeded", returned="needs_rework", last_output="x"))
    assert (reworked.rule_index, reworked.content) == (2, "x")
    # needs_input's first rule is interactive-only: offered only to interactive jobs.
    assert call_outcome(CALL, ChildEnd("succeeded", returned="needs_input")).rule_index == 3
    asked = call_outcome(CALL, ChildEnd("succeeded", returned="needs_input"), interactive=True)
    assert asked.rule_index == 0


def test_an_abort_carries_the_callees_reason_and_kind() -> None:
    transition = ChildEnd(
        "failed",
        last_output="gave up",
        reason="Workflow aborted by step transition",
        abort_kind="step_transition",
    )
    out = call_outcome(CALL, transition)
    assert (out.rule_index, out.content) == (4, "gave up")  # a transition: the last output
    assert out.call_failure == "Workflow aborted by step transition"
    limit = ChildEnd(
        "failed", last_output="half done", reason="Max steps reached", abort_kind="iteration_limit"
    )
    out = call_outcome(CALL, limit)
    assert out.content == "Max steps reached"  # anything else: the reason
    assert (out.call_failure, out.abort_kind) == ("Max steps reached", "iteration_limit")


def test_a_result_no_rule_takes_is_rule_no_match() -> None:
    bare = CALL.model_copy(update={"rules": [_rule(0, "COMPLETE", "publish")]})
    out = call_outcome(bare, ChildEnd("failed", reason="boom", abort_kind="runtime_error"))
    assert (out.status, out.failure, out.abort_kind, out.content) == (
        "error",
        RULE_NO_MATCH,
        RULE_NO_MATCH,
        "boom",
    )


def test_an_abort_transition_after_a_call_ends_the_caller_with_the_callees_reason() -> None:
    out = call_outcome(
        CALL, ChildEnd("failed", reason="Max steps reached", abort_kind="iteration_limit")
    )
    decided = route(CALLER, CALL, out, iteration=6, history=[])
    assert (decided.kind, decided.reason, decided.abort_kind) == (
        "abort",
        "Max steps reached",
        "iteration_limit",
    )
    # A plain ABORT transition keeps TAKT's own words.
    plain = Outcome("done", "x", 0, "auto_select")
    aborting = DRAFT.model_copy(update={"rules": [_rule(0, "done", "ABORT")]})
    decided = route(CALLER, aborting, plain, iteration=1, history=[])
    assert (decided.reason, decided.abort_kind) == (
        "Workflow aborted by step transition",
        "step_transition",
    )


def test_the_limit_is_not_checked_before_a_call_but_is_after_it() -> None:
    done = Outcome("done", "x", 0, "auto_select")
    # draft used the last step: a call may still start (it consumes none) ...
    assert route(CALLER, DRAFT, done, iteration=6, history=[]).target == "review"
    # ... but the step after the call may not.
    back = call_outcome(CALL, ChildEnd("succeeded"))
    limited = route(CALLER, CALL, back, iteration=6, history=[])
    assert (limited.kind, limited.reason, limited.abort_kind) == (
        "abort",
        "Max steps reached",
        "iteration_limit",
    )
    assert route(CALLER, CALL, back, iteration=5, history=[]).target == "publish"


def test_the_called_piece_runs_under_the_roots_limit_with_the_vars() -> None:
    child = called_piece(CALLER, CALL)
    assert child.name == "callee" and child.max_movements == 6
    assert child.vars == {"depth": "0", "review_mode": "initial", "strict": "true", "rounds": "2"}
    unlimited = CALLER.model_copy(update={"max_movements": None})
    assert called_piece(unlimited, CALL).max_movements is None


def test_the_budget_before_and_after_a_call() -> None:
    assert steps_before(3, member=False) == 2  # a top-level call: its child's first step
    assert steps_before(3, member=True) == 3  # a member: its parallel step used it
    child = called_piece(CALLER, CALL)
    assert not over_budget(child, 5) and over_budget(child, 6)
    first_calls = child.model_copy(
        update={
            "movements": [
                Movement(name="check", kind="workflow_call", call="x", rules=[]),
            ]
        }
    )
    assert not over_budget(first_calls, 6)  # a call consumes nothing
    assert not over_budget(child.model_copy(update={"max_movements": None}), 10**6)


@given(st.integers(0, 1000), st.one_of(st.none(), st.integers(0, 1000)))
def test_the_counter_never_goes_back(iteration: int, recorded: int | None) -> None:
    used = steps_used(iteration, recorded)
    assert used >= iteration and used >= (recorded or 0)


def test_the_report_folder_is_takts_namespace_segment() -> None:
    segment = report_segment("review", 2, "wf-callee")
    assert segment == "iteration-2--step-review--workflow-wf-callee"
    assert report_segment("a/b", 1, "w x") == "iteration-1--step-a%2Fb--workflow-w%20x"
