"""The finishing transaction: the run completes and its route is applied, all at once.

In one unit of work (holding the job lock): the last phases are recorded (guarded by
the lease), the run moves `running -> completed` (or `failed`) with its output, match
and route, the reports are stored, tokens added, events written; then the route is
applied: the next run inserted (a movement, a loop judge, the same movement again after
a human answers), or the job ends. A sub-movement instead wakes its parent when it is
the last of its siblings to end. Everything is sent after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from agents.llm import LLMError
from app.ledger import (
    REPORT,
    Dispatch,
    add_artifact,
    add_tokens,
    end_run,
    fail_attempt,
    move_job,
    set_values,
    start_movement,
    succeed,
    unit_of_work,
)
from app.ledger.traces import record_llm_calls
from app.models import MovementRun, RunPhase
from app.status import JobStatus, RunStatus
from app.subtasks import open_children
from pieces import Outcome, Route, route
from pieces.call_run import steps_used
from pieces.loops import judge_name
from pieces.program import JUDGE_KINDS
from tasks.engine import reads
from tasks.engine.claim import Claimed
from tasks.engine.events import phase_event
from tasks.engine.outcomes import requeue_unreachable, wake_parent
from tasks.engine.workspace import commit_run

log = logging.getLogger(__name__)
PREVIEW_CHARS = 400
_runs, _phases = MovementRun.__table__, RunPhase.__table__


def _mark_decision(rows: list[dict], outcome: Outcome) -> None:
    """The judgment phase that found the rule carries how it was found."""
    if outcome.rule_index is None or not rows:
        return
    last = rows[-1]
    if last["kind"] in JUDGE_KINDS and outcome.method in (
        "structured_output",
        "phase3_tag",
        "ai_judge",
        "ai_judge_fallback",
    ):
        last["match_method"] = outcome.method
        last["matched_rule"] = outcome.rule_index + 1


def finish(
    claimed: Claimed,
    outcome: Outcome,
    rows: list[dict],
    llm_calls: list[dict],
    settings,
) -> str:
    run = claimed.run
    _mark_decision(rows, outcome)
    commit = commit_run(claimed)
    with unit_of_work(run.job_id) as work:
        if work.job_status != JobStatus.RUNNING:
            work.discard()
            return "job-not-running"
        return complete(work, claimed, outcome, rows, llm_calls, commit)


def complete(
    work, claimed: Claimed, outcome: Outcome, rows: list[dict], llm_calls: list[dict], commit
) -> str:
    """The finishing transaction's work, on a unit that holds the job lock (a system
    step performs its effects on the same unit, so they commit with the run)."""
    run, piece, movement = claimed.run, claimed.piece, claimed.movement
    rule = movement.rules[outcome.rule_index] if outcome.rule_index is not None else None
    decided: Route | None = None
    used = _steps_used(work.conn, claimed)
    if run.parent_run_id is None:
        # The loop history is read only when a monitor may look at it.
        history = (
            reads.loop_history(work.conn, run.job_id, run.attempt, run.iteration)
            if piece.loop_monitors
            else ()
        )
        decided = route(
            piece,
            movement,
            outcome,
            iteration=used,
            history=history,
            loop_judge=run.kind == "loop_judge",
            natural_next=run.natural_next,
        )
    failed = outcome.status == "error"
    # The last phases are recorded with the run's end, guarded by the lease.
    totals = end_run(
        work,
        run.id,
        RunStatus.FAILED if failed else RunStatus.COMPLETED,
        held_by=claimed.owner,
        phases=rows,
        output=outcome.content,
        matched_rule=outcome.rule_index,
        matched_condition=rule.condition if rule else None,
        match_method=outcome.method,
        next=decided.next_label if decided else None,
        # A member's failed quality gate is told to its parent through its route.
        route=decided.kind if decided else ("quality_gate" if outcome.gate_failed else None),
        error=outcome.failure,
        model=rows[-1]["model"] if rows else None,
        workspace_commit=commit,
        # A call (or a parallel step with called members) used the steps its called
        # workflows took: the shared counter goes on from there (pieces/call_run.py).
        **({"spec": {**(run.spec or {}), "steps_used": used}} if used != run.iteration else {}),
        # What the run adds to the workflow state, read back by later claims.
        **({"state": outcome.state} if outcome.state is not None else {}),
    )
    if totals is None:
        work.discard()
        log.info("run %s: lease lost before completion; output discarded", run.id)
        return "lost"
    record_llm_calls(work, llm_calls)
    tokens = (sum(r["tokens_in"] for r in rows), sum(r["tokens_out"] for r in rows))
    for name, content in outcome.reports.items():
        add_artifact(work, run.job_id, REPORT, name, content, run.attempt, run.id)
    _events(work, claimed, outcome, rows, rule, decided, totals)
    if run.parent_run_id is not None:
        add_tokens(work, run.job_id, *tokens)
        wake_parent(work, run.parent_run_id)
        return "completed" if not failed else "failed"
    return apply_route(work, claimed, outcome, decided, used, tokens)


def _steps_used(conn, claimed: Claimed) -> int:
    """The shared step counter after this run (pieces/call_run.py)."""
    run = claimed.run
    if claimed.steps_used is not None:
        return claimed.steps_used
    if run.kind == "parallel":
        return steps_used(run.iteration, reads.members_steps_used(conn, run.id))
    return run.iteration


def _events(work, claimed, outcome, rows, rule, decided, totals) -> None:
    run = claimed.run
    for row in rows:
        work.event("phase_completed", **phase_event(claimed, row))
    if rule is not None:
        work.event(
            "judgment",
            run_id=str(run.id),
            movement=run.name,
            rule=outcome.rule_index + 1,
            condition=rule.condition,
            method=outcome.method,
            next=decided.next_label if decided else None,
        )
    work.event(
        "movement_completed",
        run_id=str(run.id),
        movement=run.name,
        kind=run.kind,
        iteration=run.iteration,
        status=outcome.status,
        next=decided.next_label if decided else None,
        route=decided.kind if decided else None,
        condition=rule.condition if rule else None,
        method=outcome.method,
        tokens_in=totals.tokens_in,
        tokens_out=totals.tokens_out,
        latency_ms=totals.latency_ms,
        reports=sorted(outcome.reports),
        output_preview=outcome.content[:PREVIEW_CHARS],
        error=outcome.failure,
    )


def apply_route(
    work,
    claimed: Claimed,
    outcome: Outcome,
    decided: Route,
    used: int | None = None,
    tokens: tuple[int, int] = (0, 0),
) -> str:
    """Apply the route; `tokens` (the visit's, not yet added to the job) are added with
    the job's next update."""
    run, piece, job = claimed.run, claimed.piece, claimed.job
    job_id = run.job_id
    used = run.iteration if used is None else used
    if decided.kind in ("complete", "abort"):
        add_tokens(work, job_id, *tokens)
    if decided.kind == "complete":
        # A `return:` rule ends a called workflow with its label (Route.target).
        succeed(work, job_id, outcome.content, returned=decided.target)
        return JobStatus.SUCCEEDED.value
    if decided.kind == "abort":
        # A runtime failure (the agent or its endpoint gave up) always retries; the
        # piece's own aborts (an ABORT rule, no rule matched, a limit) follow
        # RETRY_ON_ABORT.
        retry = True if outcome.abort_kind == "runtime_error" else None
        return (
            fail_attempt(
                work,
                job_id,
                decided.reason or "aborted",
                retry=retry,
                abort_kind=decided.abort_kind,
            )
            or "job-not-running"
        )
    values: dict[str, Any] = {}
    name = decided.target or run.name
    kind = None
    if decided.kind == "loop_judge":
        monitor = piece.loop_monitors[decided.monitor or 0]
        name, kind = judge_name(monitor), "loop_judge"
        values = {
            "loop_monitor": decided.monitor,
            "cycle_count": decided.cycle_count,
            "natural_next": decided.natural_next,
            "tier": monitor.judge.tier if monitor.judge else None,
        }
        work.event(
            "loop_monitor",
            cycle=monitor.cycle,
            cycle_count=decided.cycle_count,
            judge=name,
            natural_next=decided.natural_next,
        )
    dispatches: list[Dispatch] = start_movement(
        work,
        job_id,
        run.attempt,
        job.tier,
        piece,
        name,
        iteration=used + 1,
        kind=kind,
        **values,
    )
    set_values(
        work,
        job_id,
        current_movement=name,
        current_activity=f"queued {name}",
        tokens=tokens,
    )
    if decided.kind in ("wait_input", "wait_answer"):
        question = None
        if decided.kind == "wait_answer" and outcome.pause == "human":
            question = "\n\n".join(outcome.questions or ()) or outcome.content
            work.event("human_question", movement=run.name, question=question)
        else:
            work.event("waiting_input", movement=run.name, prompt=outcome.content[:PREVIEW_CHARS])
        move_job(
            work,
            job_id,
            JobStatus.RUNNING,
            JobStatus.WAITING_HUMAN,
            current_activity=f"waiting for {'an answer' if question else 'input'} before {name}",
        )
        return "waiting-human"
    if decided.kind == "wait_subtasks" and open_children(work, job_id):
        move_job(
            work,
            job_id,
            JobStatus.RUNNING,
            JobStatus.WAITING_SUBTASKS,
            current_activity=f"waiting for subtasks before {name}",
        )
        work.event("waiting_subtasks", movement=run.name)
        return "waiting-subtasks"
    work.after_all([d.send for d in dispatches])
    return "continued"


def refuse(claimed: Claimed, failure: str) -> str:
    """End a claimed run as failed before any model call (the piece asks the impossible)."""
    return finish(
        claimed, Outcome("error", failure=failure, abort_kind="runtime_error"), [], [], _settings()
    )


def fail_run(claimed: Claimed, reason: str, error: LLMError, llm_calls: list[dict]) -> str:
    """A call failed for good: hand the run back (endpoint down) or fail the movement."""
    run = claimed.run
    if error.unreachable:
        outcome = requeue_unreachable(claimed, reason, llm_calls)
        if outcome is not None:
            return outcome
    step = claimed.piece.words[1].capitalize()
    failure = f'{step} "{run.name}" failed: {reason}'
    return finish(
        claimed,
        Outcome("error", failure=failure, abort_kind="runtime_error"),
        [],
        llm_calls,
        _settings(),
    )


def _settings():
    return current_app.extensions["legato.settings"]
