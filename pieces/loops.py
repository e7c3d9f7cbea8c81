"""Loop monitors: noticing that a cycle of movements keeps repeating."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from pieces.model import LoopMonitor, Piece


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
    The judge itself is not a movement and must not be appended to ``history``.
    """
    for index, monitor in enumerate(piece.loop_monitors):
        count = trailing_cycles(monitor.cycle, history)
        if count and monitor.threshold > 0 and count % monitor.threshold == 0:
            return LoopTrigger(monitor=monitor, cycle_count=count, index=index)
    return None
