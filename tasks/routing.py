"""Where a job goes after a movement: pure decisions, no I/O.

The order of the checks is the piece format's (and tests/piece_suite/README.md's):
no match aborts; COMPLETE and ABORT end the job; a loop monitor's verdict replaces
the next movement; reaching max_movements aborts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pieces import Movement, Piece, RuleMatch

COMPLETE, ABORT = "COMPLETE", "ABORT"


@dataclass(frozen=True)
class Route:
    kind: Literal["complete", "abort", "movement"]
    target: str | None = None
    reason: str | None = None
    # The next movement waits for a user input before it may run.
    wait_for_input: bool = False


def route(
    piece: Piece,
    movement: Movement,
    match: RuleMatch | None,
    history_length: int,
    *,
    loop_verdict: RuleMatch | None = None,
    loop_judge: str | None = None,
    unmatched: str | None = None,
) -> Route:
    """The next step after `movement` matched `match` as the `history_length`-th movement.

    `loop_verdict` is the loop-monitor judge's rule when one fired (`loop_judge` names it).
    """
    if not movement.rules and not movement.parallel:
        return Route("complete", reason=f"{movement.name} has no rules")
    if match is None:
        return Route("abort", reason=unmatched or f"no rule matched in {movement.name}")
    target, decided_by = match.next, f'rule "{match.condition}" of {movement.name}'
    if loop_verdict is not None and target not in (COMPLETE, ABORT):
        target, decided_by = (
            loop_verdict.next,
            (f'loop judge rule "{loop_verdict.condition}" of {loop_judge}'),
        )
    if target == COMPLETE:
        return Route("complete", reason=decided_by)
    if target == ABORT or target is None:
        return Route("abort", reason=f"ABORT chosen by {decided_by}")
    if history_length >= piece.max_movements:
        return Route("abort", reason=f"max_movements ({piece.max_movements}) reached")
    return Route(
        "movement", target=target, reason=decided_by, wait_for_input=match.requires_user_input
    )
