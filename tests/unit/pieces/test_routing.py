"""The routing decision and loop monitors, directly and as properties (SEMANTICS.md §0, §5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pieces import LoopMonitor, Outcome, route
from pieces.loops import check_monitors, history_of, judge_movement, judge_name, trailing_cycles

from .helpers import movement, piece, rules
from .simulator import simulate


def done(index: int) -> Outcome:
    return Outcome("done", "out", index, "structured_output")


PING = movement(("go", "pong"), ("stop", "COMPLETE"), ("quit", "ABORT"), name="ping")
PONG = movement(("go", "ping"), name="pong")


def test_complete_abort_and_movement() -> None:
    p = piece(PING, PONG)
    assert route(p, PING, done(1), iteration=1, history=[]).kind == "complete"
    aborted = route(p, PING, done(2), iteration=1, history=[])
    assert (aborted.kind, aborted.reason) == ("abort", "Piece aborted by movement transition")
    nxt = route(p, PING, done(0), iteration=1, history=[])
    assert (nxt.kind, nxt.target, nxt.recorded) == ("movement", "pong", True)


def test_the_limit_is_checked_before_a_movement_runs() -> None:
    p = piece(PING, PONG, max_movements=3)
    assert route(p, PING, done(0), iteration=2, history=[]).kind == "movement"
    limited = route(p, PING, done(0), iteration=3, history=[])
    assert (limited.kind, limited.reason) == ("abort", "Max movements reached")
    # Ending the job is never stopped by the limit.
    assert route(p, PING, done(1), iteration=3, history=[]).kind == "complete"


def test_errors_blocks_and_user_input() -> None:
    p = piece(PING, PONG)
    failed = route(
        p, PING, Outcome("error", failure='Movement "ping" failed: x'), iteration=1, history=[]
    )
    assert (failed.kind, failed.reason) == ("abort", 'Movement "ping" failed: x')
    asked = route(p, PING, Outcome("blocked", "q?", pause="human"), iteration=1, history=[])
    assert (asked.kind, asked.target, asked.recorded) == ("wait_answer", "ping", False)
    waiting = movement(("ok", "pong"), name="ask")
    waiting = waiting.model_copy(
        update={"rules": [waiting.rules[0].model_copy(update={"requires_user_input": True})]}
    )
    wait = route(piece(waiting, PONG), waiting, done(0), iteration=1, history=[])
    assert (wait.kind, wait.target) == ("wait_input", "ask")


def test_no_matching_rule_and_no_next_abort_as_takt_words_it() -> None:
    p = piece(PING, PONG)
    none = route(p, PING, Outcome("done", "x"), iteration=1, history=[])
    assert none.reason == (
        'Movement execution failed: No matching rule found for movement "ping" (status: done)'
    )


def test_trailing_cycles() -> None:
    assert trailing_cycles(["a", "b"], ["x", "a", "b", "a", "b"]) == 2
    assert trailing_cycles(["a", "b"], ["a", "b", "a"]) == 0
    assert trailing_cycles(["a", "b"], []) == 0


def test_history_resets_after_a_judge_and_skips_waits() -> None:
    runs = [
        ("a", "agent", "movement"),
        ("b", "agent", "wait_input"),
        ("b", "agent", "movement"),
        ("_loop_judge_a_b", "loop_judge", "movement"),
        ("a", "agent", "movement"),
    ]
    assert history_of(runs) == ["a"]
    assert history_of(runs[:3]) == ["a", "b"]


def test_a_monitor_overrides_a_natural_complete_in_the_piece_dialect() -> None:
    a = movement(("go", "b"), name="a")
    b = movement(("done", "COMPLETE"), name="b")
    judge = movement(("finish", "COMPLETE"), ("stop", "ABORT"), name="judge")
    p = piece(a, b, loop_monitors=[LoopMonitor(cycle=["a", "b"], threshold=1, judge=judge)])
    fired = route(p, b, done(0), iteration=2, history=["a"])
    assert (fired.kind, fired.monitor, fired.cycle_count, fired.natural_next) == (
        "loop_judge",
        0,
        1,
        "COMPLETE",
    )
    jm = judge_movement(p, 0, 1)
    assert jm.name == judge_name(p.loop_monitors[0]) == "_loop_judge_a_b"
    after = route(p, jm, done(1), iteration=3, history=[], loop_judge=True, natural_next="COMPLETE")
    assert (after.kind, after.reason) == ("abort", "Piece aborted by movement transition")
    # The workflow dialect skips monitors on terminal transitions.
    wf = p.model_copy(update={"dialect": "workflow"})
    assert check_monitors(wf, ["a", "b"], "COMPLETE") is None


def test_judge_instruction_gets_its_cycle_count() -> None:
    judge = movement(("ok", "a"), name="j", instruction="ran {cycle_count} times")
    p = piece(
        movement(("x", "a"), name="a"), loop_monitors=[LoopMonitor(cycle=["a", "a"], judge=judge)]
    )
    jm = judge_movement(p, 0, 4)
    assert jm.instruction == "ran 4 times"
    assert (jm.edit, jm.allowed_tools, jm.persona_name) == (
        False,
        ["Read", "Glob", "Grep"],
        "loop-judge",
    )


@given(st.integers(1, 8), st.lists(st.sampled_from(["s1", "s2"]), max_size=30))
def test_no_more_movements_run_than_the_limit(limit: int, tokens: list[str]) -> None:
    p = piece(PING, PONG, max_movements=limit)
    walk = simulate(p, {"ping": tokens})
    assert len(walk.path) <= limit
    assert walk.end in ("COMPLETE", "ABORT: Max movements reached")
    if walk.end == "ABORT: Max movements reached":
        assert len(walk.path) == limit


@given(st.integers(1, 3), st.lists(st.sampled_from(["s1", "s2"]), min_size=1, max_size=20))
def test_a_judge_always_follows_threshold_complete_cycles(
    threshold: int, tokens: list[str]
) -> None:
    check = movement(("pass", "COMPLETE"), ("fail", "redo"), name="check")
    redo = movement(("again", "check"), name="redo")
    judge = movement(("on", "check"), ("stop", "ABORT"), name="j")
    p = piece(
        check,
        redo,
        max_movements=60,
        loop_monitors=[LoopMonitor(cycle=["check", "redo"], threshold=threshold, judge=judge)],
    )
    walk = simulate(p, {"check": tokens})
    since = []
    for name in walk.path:
        if name == "_loop_judge_check_redo":
            assert trailing_cycles(["check", "redo"], since) >= threshold
            since = []
        else:
            since.append(name)
            assert trailing_cycles(["check", "redo"], since) <= threshold


def test_rules_helper_is_zero_based() -> None:
    assert [r.index for r in rules("a", "b")] == [0, 1]
