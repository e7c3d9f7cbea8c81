"""Loop-monitor counting and triggering."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pieces import (
    LoopMonitor,
    Movement,
    Piece,
    PromptContext,
    check_loop_monitors,
    loop_judge_prompt,
    trailing_cycles,
)

from .helpers import rules

names = st.sampled_from(["a", "b", "c", "d"])


@given(st.lists(names, min_size=1, max_size=3), st.lists(names, max_size=6), st.integers(0, 6))
def test_trailing_cycles_counts_back_to_back_repeats(cycle, prefix, k) -> None:
    history = prefix + cycle * k
    count = trailing_cycles(cycle, history)
    assert count >= k
    # Exactly k unless the prefix itself ends with more copies of the cycle.
    assert count == k + trailing_cycles(cycle, prefix)


@given(st.lists(names, min_size=1, max_size=3), st.lists(names, max_size=10))
def test_trailing_cycles_is_zero_unless_history_ends_with_the_cycle(cycle, history) -> None:
    if history[-len(cycle) :] != cycle:
        assert trailing_cycles(cycle, history) == 0


def test_trailing_cycles_examples() -> None:
    assert trailing_cycles(["r", "f"], ["p", "r", "f", "r", "f"]) == 2
    assert trailing_cycles(["r", "f"], ["r", "f", "r"]) == 0
    assert trailing_cycles(["r", "f"], ["r", "f", "x", "r", "f"]) == 1
    assert trailing_cycles(["r"], ["r", "r", "r"]) == 3
    assert trailing_cycles([], ["r"]) == 0


def _piece(*monitors: LoopMonitor) -> Piece:
    mvs = [Movement(name=n, rules=rules((n, "COMPLETE"))) for n in "abcd"]
    return Piece(name="p", initial_movement="a", movements=mvs, loop_monitors=list(monitors))


@given(st.integers(1, 4), st.integers(0, 12))
def test_monitor_fires_on_every_multiple_of_threshold(threshold: int, k: int) -> None:
    piece = _piece(LoopMonitor(cycle=["b", "c"], threshold=threshold))
    trigger = check_loop_monitors(piece, ["a", *(["b", "c"] * k)])
    if k and k % threshold == 0:
        assert trigger is not None and trigger.cycle_count == k and trigger.index == 0
    else:
        assert trigger is None


def test_monitor_does_not_fire_mid_cycle() -> None:
    piece = _piece(LoopMonitor(cycle=["b", "c"], threshold=1))
    assert check_loop_monitors(piece, ["a", "b", "c", "b"]) is None
    assert check_loop_monitors(piece, []) is None


def test_first_monitor_that_fires_wins() -> None:
    first = LoopMonitor(cycle=["c"], threshold=2)
    second = LoopMonitor(cycle=["b", "c"], threshold=1)
    piece = _piece(first, second)
    assert check_loop_monitors(piece, ["b", "c"]).index == 1
    trigger = check_loop_monitors(piece, ["c", "c"])
    assert trigger.monitor == first and trigger.cycle_count == 2


def test_loop_judge_prompt_fills_cycle_count() -> None:
    judge = Movement(
        name="loop_monitors[0].judge",
        instruction="Repeated {cycle_count} times.",
        rules=rules(("Go on", "b"), ("Stop", "ABORT")),
    )
    piece = _piece(LoopMonitor(cycle=["b", "c"], threshold=2, judge=judge))
    trigger = check_loop_monitors(piece, ["b", "c", "b", "c"])
    prompt = loop_judge_prompt(piece, trigger, PromptContext(task="t"))
    assert "Repeated 2 times." in prompt
    assert "[STEP:0] = Go on\n[STEP:1] = Stop" in prompt


def test_loop_without_judge_has_no_prompt() -> None:
    piece = _piece(LoopMonitor(cycle=["b"], threshold=1))
    trigger = check_loop_monitors(piece, ["b"])
    assert loop_judge_prompt(piece, trigger, PromptContext(task="t")) is None
