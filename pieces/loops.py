"""Loop monitors: noticing that a cycle of movements keeps repeating (SEMANTICS.md §5.2).

After each top-level movement its name joins a history. A monitor fires when the
history ends with at least ``threshold`` complete copies of its cycle. Its judge then
runs as a movement of its own (``_loop_judge_<cycle>``), its rule picks where to go,
and the history starts over. The workflow dialect first drops ``ignore_steps`` from the
history and fires only when the loop is about to repeat (the next step is the cycle's
first) and the transition is not terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from pieces.model import TERMINALS, LoopMonitor, Movement, Piece

JUDGE_PREFIX = "_loop_judge_"
JUDGE_DISPLAY = "loop-judge"
JUDGE_TOOLS = ["Read", "Glob", "Grep"]


class LoopTrigger(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int  # position of the monitor in piece.loop_monitors
    cycle_count: int


def trailing_cycles(cycle: Sequence[str], history: Sequence[str]) -> int:
    """How many complete copies of ``cycle`` end ``history``, back to back."""
    size = len(cycle)
    if not size or not history or history[-1] != cycle[-1]:
        return 0
    count, end = 0, len(history)
    while end >= size and list(history[end - size : end]) == list(cycle):
        count += 1
        end -= size
    return count


WAIT_ROUTES = ("wait_input", "wait_answer", "wait_subtasks")
# Runs that go round again without a transition: not part of the loop history.
UNRECORDED_ROUTES = (*WAIT_ROUTES, "quality_gate")


def history_of(runs: Sequence[tuple[str, str, str | None]]) -> list[str]:
    """The loop history after a job's top-level runs, given as (name, kind, route) in
    order: a loop judge's run starts it over, and a run that waited for a human (and so
    runs again) is not recorded, as TAKT records it."""
    history: list[str] = []
    for name, kind, route in runs:
        if kind == "loop_judge":
            history = []
        elif route is not None and route not in UNRECORDED_ROUTES:
            history.append(name)
    return history


def check_monitors(
    piece: Piece, history: Sequence[str], natural_next: str | None
) -> LoopTrigger | None:
    """The first monitor that fires for ``history`` (which ends with the movement just run)."""
    for index, monitor in enumerate(piece.loop_monitors):
        seen = list(history)
        if piece.dialect == "workflow":
            if natural_next in TERMINALS or not monitor.cycle or natural_next != monitor.cycle[0]:
                continue
            seen = [name for name in seen if name not in monitor.ignore_steps]
        if len(seen) < monitor.threshold * len(monitor.cycle):
            continue
        count = trailing_cycles(monitor.cycle, seen)
        if count >= monitor.threshold:
            return LoopTrigger(index=index, cycle_count=count)
    return None


def judge_name(monitor: LoopMonitor) -> str:
    return JUDGE_PREFIX + "_".join(monitor.cycle)


def default_judge_instruction(piece: Piece, monitor: LoopMonitor, cycle_count: int) -> str:
    step = piece.words[1]
    options = "\n".join(
        f"- {r.condition} → {r.next}" for r in (monitor.judge.rules if monitor.judge else [])
    )
    return "\n".join(
        [
            f"The {step} cycle [{' → '.join(monitor.cycle)}] has now run {cycle_count} times.",
            "",
            "Decide whether the loop is making progress or going round in circles.",
            "",
            "**Options:**",
            options,
            "",
            "**Look at:**",
            "- whether each round finds and fixes new issues,",
            "- whether the same findings keep coming back,",
            "- whether the work as a whole moves forward.",
        ]
    )


def judge_movement(piece: Piece, index: int, cycle_count: int) -> Movement:
    """The synthetic movement a monitor's judge runs as, with ``{cycle_count}`` filled in."""
    monitor = piece.loop_monitors[index]
    judge = monitor.judge
    instruction = (judge.instruction if judge else "") or default_judge_instruction(
        piece, monitor, cycle_count
    )
    return Movement(
        name=judge_name(monitor),
        persona=judge.persona if judge else None,
        persona_file=judge.persona_file if judge else False,
        persona_name=JUDGE_DISPLAY,
        instruction=instruction.replace("{cycle_count}", str(cycle_count)),
        edit=False,
        allowed_tools=list(JUDGE_TOOLS),
        # The workflow dialect runs the judge in a fresh conversation.
        session="refresh" if piece.dialect == "workflow" else "continue",
        pass_previous_response=True,
        rules=judge.rules if judge else [],
        tier=judge.tier if judge else None,
    )
