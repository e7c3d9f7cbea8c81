"""Where a job goes after a movement run: one pure decision (SEMANTICS.md §0, §3.5, §5).

``route`` takes the piece, the run that just finished (its movement, iteration and
outcome) and the loop-monitor history, and returns the next step: another movement, a
loop monitor's judge, a wait for a human, or the end of the job with TAKT's own abort
reason. The worker applies the route in the run's finishing transaction; it never
decides anything itself.

TAKT's order: a blocked answer or a rule with ``requires_user_input`` waits and then
runs the same movement again; the movement joins the loop history and the monitors are
checked (a firing monitor's judge replaces the natural next step, even a ``COMPLETE``
in the piece dialect); ``COMPLETE``/``ABORT`` end the job; and before any movement runs,
the iteration limit is checked, so exactly ``max_movements`` iterations can run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pieces.loops import check_monitors
from pieces.model import ABORT, COMPLETE, Movement, Piece
from pieces.program import Outcome, failed_execution

STEP_TRANSITION, ITERATION_LIMIT = "step_transition", "iteration_limit"
RULE_NO_MATCH, RUNTIME_ERROR = "rule_no_match", "runtime_error"

RouteKind = Literal[
    "movement",
    "complete",
    "abort",
    "wait_input",
    "wait_answer",
    "wait_subtasks",
    "loop_judge",
    "quality_gate",
]


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    target: str | None = None  # the movement to run next (or again)
    reason: str | None = None  # the abort reason, in TAKT's words
    monitor: int | None = None  # loop_judge: which monitor fired
    cycle_count: int = 0
    natural_next: str | None = None  # what the rule chose before a monitor stepped in
    # An abort in TAKT v0.60's terms: step_transition, iteration_limit, rule_no_match,
    # runtime_error (what a caller of this workflow reads, pieces/call_run.py).
    abort_kind: str | None = None
    # The run joins the loop history (a run that waits for a human does not).
    recorded: bool = False

    @property
    def next_label(self) -> str:
        """What the run's `next` column shows."""
        if self.kind in ("movement", "wait_input", "wait_answer", "wait_subtasks", "quality_gate"):
            return self.target or ""
        if self.kind == "loop_judge":
            return f"loop judge ({self.natural_next})"
        return self.kind.upper()


def limit_reached(piece: Piece, iteration: int) -> bool:
    return piece.max_movements is not None and iteration >= piece.max_movements


def max_reason(piece: Piece) -> str:
    return f"Max {piece.words[1]}s reached"


def transition_reason(piece: Piece) -> str:
    word, step = piece.words
    return f"{word.capitalize()} aborted by {step} transition"


def no_next_reason(piece: Piece, movement: Movement) -> str:
    return failed_execution(
        piece, f'No matching rule found for {piece.words[1]} "{movement.name}" (status: done)'
    )


def _limit(piece: Piece, **extra) -> Route:
    return Route("abort", reason=max_reason(piece), abort_kind=ITERATION_LIMIT, **extra)


def _go(
    piece: Piece, target: str, iteration: int, failure: Outcome | None = None, **extra
) -> Route:
    if target == COMPLETE:
        return Route("complete", **extra)
    if target == ABORT:
        if failure is not None and failure.call_failure is not None:
            # Right after a called workflow aborted: the caller ends with its reason.
            kind = failure.abort_kind or STEP_TRANSITION
            return Route("abort", reason=failure.call_failure, abort_kind=kind, **extra)
        return Route("abort", reason=transition_reason(piece), abort_kind=STEP_TRANSITION, **extra)
    # A workflow_call step consumes no iteration, so the limit is not checked before it
    # (TAKT v0.60); its called workflow checks it before its own first step.
    if limit_reached(piece, iteration) and not _is_call(piece, target):
        return _limit(piece, **extra)
    return Route("movement", target=target, **extra)


def _is_call(piece: Piece, name: str) -> bool:
    try:
        return piece.movement(name).kind == "workflow_call"
    except KeyError:
        return False


def route(
    piece: Piece,
    movement: Movement,
    outcome: Outcome,
    *,
    iteration: int,
    history: Sequence[str],
    loop_judge: bool = False,
    natural_next: str | None = None,
) -> Route:
    """The step after ``movement`` ran as iteration ``iteration`` and ended with ``outcome``.

    ``history`` is the loop-monitor history before this run. For a loop judge's run,
    ``natural_next`` is what the cycle's last movement had chosen.
    """
    if loop_judge:
        return _after_judge(piece, movement, outcome, iteration, natural_next)
    if outcome.status == "blocked":
        if limit_reached(piece, iteration):
            return _limit(piece)
        waits = "wait_subtasks" if outcome.pause == "subtasks" else "wait_answer"
        return Route(waits, target=movement.name)
    if outcome.status == "error":
        kind = outcome.abort_kind or (
            RULE_NO_MATCH if outcome.failure == RULE_NO_MATCH else RUNTIME_ERROR
        )
        return Route("abort", reason=outcome.failure, abort_kind=kind)
    if outcome.gate_failed:
        # The same step again, as a new iteration that is not a transition: the loop
        # history and monitors do not see it (TAKT continues its loop before both).
        if limit_reached(piece, iteration):
            return _limit(piece)
        return Route("quality_gate", target=movement.name)
    if outcome.rule_index is None:
        return Route("abort", reason=no_next_reason(piece, movement), abort_kind=RULE_NO_MATCH)
    rule = movement.rules[outcome.rule_index]
    if rule.requires_user_input:
        if limit_reached(piece, iteration):
            return _limit(piece)
        return Route("wait_input", target=movement.name)
    if rule.returns is not None:
        return Route("complete", target=rule.returns, recorded=True)
    if not rule.next:
        return Route(
            "abort",
            reason=no_next_reason(piece, movement),
            abort_kind=RULE_NO_MATCH,
            recorded=True,
        )
    trigger = check_monitors(piece, [*history, movement.name], rule.next)
    if trigger is not None:
        return Route(
            "loop_judge",
            monitor=trigger.index,
            cycle_count=trigger.cycle_count,
            natural_next=rule.next,
            recorded=True,
        )
    return _go(piece, rule.next, iteration, outcome, recorded=True)


def _after_judge(
    piece: Piece, judge: Movement, outcome: Outcome, iteration: int, natural_next: str | None
) -> Route:
    if outcome.status != "done":
        if piece.dialect == "workflow" and natural_next:
            return _go(piece, natural_next, iteration)
        return Route(
            "abort",
            reason=failed_execution(piece, f"Unhandled response status: {outcome.status}"),
            abort_kind=RUNTIME_ERROR,
        )
    rule = judge.rules[outcome.rule_index] if outcome.rule_index is not None else None
    if rule is None or not rule.next:
        return Route("abort", reason=no_next_reason(piece, judge), abort_kind=RULE_NO_MATCH)
    return _go(piece, rule.next, iteration)
