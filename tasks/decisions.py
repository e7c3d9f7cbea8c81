"""What happens after an agent turn: a pause the tools asked for, or the piece's rules.

Split from tasks.execution (which claims, runs and finishes); tasks.parallel uses
`decide` for the join of a parallel movement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.runtime import TurnResult
from app.config import Settings
from pieces import (
    Movement,
    RuleMatch,
    check_loop_monitors,
    judge_prompt,
    loop_judge_prompt,
    match_by_tag,
    needs_judge,
    parse_judge_reply,
    unmatched_summary,
)
from tasks.agent_host import JobToolHost
from tasks.routing import ABORT, COMPLETE, Route, route
from tasks.turns import turn as agent_turn

if TYPE_CHECKING:
    from tasks.execution import Claimed


@dataclass
class Decision:
    """Where to go next, and the events that explain it."""

    route: Route
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # spawn_subtask was called: the job waits for its children before re-running.
    wait_subtasks: bool = False


def pause_for(claimed: Claimed, host: JobToolHost) -> Decision | None:
    """ask_human / spawn_subtask: re-run this movement after the answer or the children."""
    if host.questions:
        question = "\n\n".join(host.questions)
        return Decision(
            Route("movement", target=claimed.name, reason="asked a human", wait_for_input=True),
            [("human_question", {"movement": claimed.name, "question": question})],
        )
    if host.spawned:
        return Decision(
            Route("movement", target=claimed.name, reason="waiting for subtasks"),
            wait_subtasks=True,
        )
    return None


def choose_rule(
    claimed: Claimed, movement: Movement, turn: TurnResult, settings: Settings
) -> RuleMatch | None:
    """The agent's status tag, or a judge's verdict when the tag cannot decide."""
    if not needs_judge(movement, turn.content):
        return match_by_tag(movement, turn.content)
    verdict = agent_turn(
        claimed, movement, judge_prompt(movement, turn.content), settings, purpose="judge"
    )
    turn.add_usage(verdict)
    return parse_judge_reply(movement, verdict.content)


def decide(
    claimed: Claimed,
    movement: Movement,
    match: RuleMatch | None,
    turn: TurnResult,
    reports: dict[str, str],
    settings: Settings,
    history: tuple[str, ...] | None = None,
) -> Decision:
    """Route after a top-level movement, asking a loop monitor's judge when one fires."""
    history = history or claimed.history
    piece = claimed.piece
    events: list[tuple[str, dict[str, Any]]] = []
    verdict, judge_name = None, None
    if match is not None and match.next not in (COMPLETE, ABORT, None):
        trigger = check_loop_monitors(piece, history)
        if trigger is not None:
            judge = trigger.monitor.judge
            fired = {"cycle": trigger.monitor.cycle, "cycle_count": trigger.cycle_count}
            if judge is None:
                events.append(("loop_monitor", {**fired, "verdict": None}))
                return Decision(
                    Route(
                        "abort",
                        reason=(
                            f"loop {' -> '.join(trigger.monitor.cycle)} repeated "
                            f"{trigger.cycle_count} times"
                        ),
                    ),
                    events,
                )
            ctx = claimed.context.model_copy(
                update={"reports": {**claimed.context.reports, **reports}}
            )
            judged = agent_turn(
                claimed,
                judge,
                loop_judge_prompt(piece, trigger, ctx) or "",
                settings,
                purpose="loop-judge",
            )
            turn.add_usage(judged)
            verdict, judge_name = choose_rule(claimed, judge, judged, settings), judge.name
            events.append(
                (
                    "loop_monitor",
                    {**fired, "judge": judge.name, "verdict": verdict.next if verdict else None},
                )
            )
            if verdict is None:
                return Decision(Route("abort", reason=f"no rule matched in {judge.name}"), events)
    unmatched = unmatched_summary(movement, turn.content) if match is None else None
    decided = route(
        piece,
        movement,
        match,
        len(history),
        loop_verdict=verdict,
        loop_judge=judge_name,
        unmatched=unmatched,
    )
    return Decision(decided, events)
