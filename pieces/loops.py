"""Loop monitors: noticing that a cycle of movements keeps repeating."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from pieces.model import LoopMonitor, Piece
from pieces.prompt import build_prompt
from pieces.variables import PromptContext


class LoopTrigger(BaseModel):
    model_config = ConfigDict(frozen=True)

    monitor: LoopMonitor
    cycle_count: int
    index: int = 0  # position of the monitor in piece.loop_monitors


def trailing_cycles(cycle: Sequence[str], history: Sequence[str]) -> int:
    """How many times ``cycle`` repeats back-to-back at the very end of ``history``."""
    size = len(cycle)
    if not size:
        return 0
    count, end = 0, len(history)
    while end >= size and list(history[end - size : end]) == list(cycle):
        count += 1
        end -= size
    return count


def check_loop_monitors(piece: Piece, history: Sequence[str]) -> LoopTrigger | None:
    """The first monitor whose cycle has just completed a multiple of ``threshold`` times.

    Firing on every multiple (not only the first) means a judge that lets the loop go on
    is asked again after another ``threshold`` rounds, so a loop can never run unwatched.
    Call it only when the movement just finished chose another movement (not COMPLETE
    or ABORT); on a trigger the judge's rule replaces that choice. The judge is not a
    movement: it is not appended to ``history`` and does not count toward max_movements.
    """
    for index, monitor in enumerate(piece.loop_monitors):
        count = trailing_cycles(monitor.cycle, history)
        if count and monitor.threshold > 0 and count % monitor.threshold == 0:
            return LoopTrigger(monitor=monitor, cycle_count=count, index=index)
    return None


def loop_judge_prompt(piece: Piece, trigger: LoopTrigger, ctx: PromptContext) -> str | None:
    """The judge's prompt with ``{cycle_count}`` filled in; None when there is no judge
    (the job then aborts). Match its reply with the rule functions on
    ``trigger.monitor.judge``, exactly as for a movement."""
    judge = trigger.monitor.judge
    if judge is None:
        return None
    return build_prompt(piece, judge, ctx.model_copy(update={"cycle_count": trigger.cycle_count}))
