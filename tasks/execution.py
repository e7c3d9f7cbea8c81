"""One movement run, start to finish: claim, prompt, agent turn, rules, persist, hand on.

Three short transactions bracket the slow part, so no database connection is held
while the LLM thinks:

1. claim   pending -> running with a lease; job queued -> running; prompt stored.
2. (no transaction) the agent turn, with the lease renewed from a side thread.
3. finish  running -> completed, guarded by our lease; then the next run is
           inserted, or the job finished, in the same transaction; enqueue after commit.

A duplicate delivery fails step 1 and never reaches the LLM (DESIGN.md invariant 3).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from agents.llm import LLMClient, LLMError
from agents.runtime import TurnResult, run_turn
from app.config import Settings
from app.db import db
from app.jobs import Dispatch, add_run
from app.models import Job, MovementRun
from app.status import JobStatus, RunStatus
from app.transitions import claim_run, move_job, move_run, record_event
from pieces import (
    Movement,
    Piece,
    PromptContext,
    RuleMatch,
    build_prompt,
    judge_prompt,
    match_by_tag,
    needs_judge,
    parse_judge_reply,
)
from tasks.lease import LeaseKeeper
from tasks.llm_profiles import profile_for

log = logging.getLogger(__name__)

COMPLETE, ABORT = "COMPLETE", "ABORT"
PREVIEW_CHARS = 400

_client: LLMClient | None = None


def llm_client() -> LLMClient:
    """One pooled client per worker process, shared by its threads."""
    global _client
    if _client is None:
        _client = LLMClient()
    return _client


@dataclass(frozen=True)
class Claimed:
    """What the worker needs after the claim transaction, detached from the session."""

    run_id: uuid.UUID
    job_id: uuid.UUID
    attempt: int
    name: str
    iteration: int
    tier: str
    job_tier: str
    prompt: str
    piece: Piece
    movement: Movement


def execute_run(run_id: uuid.UUID, worker: str) -> str:
    """Run one movement run; returns a one-word outcome for the worker log."""
    settings: Settings = current_app.extensions["legato.settings"]
    claimed = _claim(run_id, worker, settings.movement_lease_seconds)
    if claimed is None:
        return "skipped"

    lease = LeaseKeeper(
        current_app._get_current_object(), run_id, worker, settings.movement_lease_seconds
    )
    try:
        with lease:
            turn = _agent_turn(claimed, settings)
            if lease.lost.is_set():
                return "lost"
            match = _choose_rule(claimed, turn, settings)
    except LLMError as exc:
        return _fail_attempt(claimed, worker, f"LLM call failed: {exc}")
    if lease.lost.is_set():
        return "lost"
    return _finish(claimed, worker, turn, match)


# -- 1. claim ----------------------------------------------------------------


def _claim(run_id: uuid.UUID, worker: str, lease_seconds: float) -> Claimed | None:
    if not claim_run(run_id, worker, lease_seconds):
        db.session.rollback()
        log.info("run %s: already claimed or no longer pending; dropping message", run_id)
        return None
    run = db.session.get(MovementRun, run_id)
    job = db.session.get(Job, run.job_id)
    if job.status == JobStatus.QUEUED:
        started = move_job(job.id, JobStatus.QUEUED, JobStatus.RUNNING, current_movement=run.name)
    else:
        started = job.status == JobStatus.RUNNING
    if not started:
        db.session.rollback()
        log.info("run %s: job %s is %s; not running it", run_id, job.id, job.status)
        return None

    piece = Piece.model_validate(job.piece_snapshot)
    movement = piece.movement(run.name)
    context = PromptContext(
        task=job.instruction,
        iteration=run.iteration,
        movement_iteration=run.movement_iteration,
        previous_response=_previous_output(run),
    )
    prompt = build_prompt(piece, movement, context)
    run.prompt = prompt
    job.current_movement = run.name
    job.current_activity = f"running {run.name}"
    record_event(
        job.id,
        "movement_started",
        movement=run.name,
        iteration=run.iteration,
        tier=run.tier,
        run_id=str(run.id),
        attempt=run.attempt,
    )
    claimed = Claimed(
        run_id=run.id,
        job_id=job.id,
        attempt=run.attempt,
        name=run.name,
        iteration=run.iteration,
        tier=run.tier,
        job_tier=job.tier,
        prompt=prompt,
        piece=piece,
        movement=movement,
    )
    db.session.commit()
    return claimed


def _previous_output(run: MovementRun) -> str | None:
    if run.iteration <= 1:
        return None
    return db.session.scalar(
        select(MovementRun.output).where(
            MovementRun.job_id == run.job_id,
            MovementRun.attempt == run.attempt,
            MovementRun.iteration == run.iteration - 1,
            MovementRun.parent_run_id.is_(None),
            MovementRun.status == RunStatus.COMPLETED.value,
        )
    )


# -- 2. the agent turn (no transaction open) ----------------------------------


def _agent_turn(claimed: Claimed, settings: Settings) -> TurnResult:
    profile = profile_for(settings, claimed.tier, claimed.movement.model)
    return run_turn(
        llm_client(),
        profile,
        claimed.prompt,
        headers=_headers(claimed),
        on_retry=_retry_recorder(claimed),
    )


def _choose_rule(claimed: Claimed, turn: TurnResult, settings: Settings) -> RuleMatch | None:
    if not needs_judge(claimed.movement, turn.content):
        return match_by_tag(claimed.movement, turn.content)
    profile = profile_for(settings, claimed.tier, None)
    verdict = run_turn(
        llm_client(),
        profile,
        judge_prompt(claimed.movement, turn.content),
        headers={**_headers(claimed), "X-Legato-Purpose": "judge"},
        on_retry=_retry_recorder(claimed),
    )
    turn.add_usage(verdict)
    return parse_judge_reply(claimed.movement, verdict.content)


def _headers(claimed: Claimed) -> dict[str, str]:
    return {
        "X-Legato-Job": str(claimed.job_id),
        "X-Legato-Run": str(claimed.run_id),
        "X-Legato-Movement": claimed.name,
    }


def _retry_recorder(claimed: Claimed):
    def on_retry(info) -> None:
        try:
            record_event(
                claimed.job_id,
                "llm_retry",
                movement=claimed.name,
                attempt=info.attempt,
                reason=info.reason,
                wait_s=round(info.wait_s, 2),
            )
            db.session.commit()
        except Exception:  # progress reporting must never break the call it reports on
            db.session.rollback()
            log.warning("could not record LLM retry for job %s", claimed.job_id, exc_info=True)

    return on_retry


# -- 3. finish -----------------------------------------------------------------


def _finish(claimed: Claimed, worker: str, turn: TurnResult, match: RuleMatch | None) -> str:
    completed = move_run(
        claimed.run_id,
        RunStatus.RUNNING,
        RunStatus.COMPLETED,
        held_by=worker,
        output=turn.content,
        matched_rule=match.index if match else None,
        matched_condition=match.condition if match else None,
        next=match.next if match else ABORT,
        tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out,
        latency_ms=turn.latency_ms,
        model=turn.model,
        lease_expires_at=None,
    )
    if not completed:
        db.session.rollback()
        log.info("run %s: lease lost before completion; output discarded", claimed.run_id)
        return "lost"
    _add_tokens(claimed.job_id, turn)
    record_event(
        claimed.job_id,
        "movement_completed",
        movement=claimed.name,
        iteration=claimed.iteration,
        next=match.next if match else None,
        condition=match.condition if match else None,
        tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out,
        latency_ms=turn.latency_ms,
        output_preview=turn.content[:PREVIEW_CHARS],
    )

    dispatch: Dispatch | None = None
    if match is None:
        outcome = _end_job(
            claimed,
            JobStatus.FAILED,
            turn.content,
            reason=f"no rule matched the output of {claimed.name}: {_summary(turn.content)}",
        )
    elif match.next == COMPLETE:
        outcome = _end_job(claimed, JobStatus.SUCCEEDED, turn.content)
    elif match.next == ABORT:
        outcome = _end_job(
            claimed,
            JobStatus.FAILED,
            turn.content,
            reason=f"{claimed.name} chose ABORT ({match.condition})",
        )
    elif claimed.iteration >= claimed.piece.max_movements:
        outcome = _end_job(
            claimed,
            JobStatus.FAILED,
            turn.content,
            reason=f"max_movements ({claimed.piece.max_movements}) reached",
        )
    else:
        job = db.session.get(Job, claimed.job_id)
        dispatch = add_run(job, match.next, iteration=claimed.iteration + 1)
        job.current_movement = match.next
        job.current_activity = f"queued {match.next}"
        outcome = "continued"
    db.session.commit()
    if dispatch is not None:
        dispatch.send()
    return outcome


def _end_job(claimed: Claimed, status: JobStatus, output: str, *, reason: str | None = None) -> str:
    values: dict = {"current_activity": None}
    if status == JobStatus.SUCCEEDED:
        values["result"] = output
    else:
        values["abort_reason"] = reason
        values["error_summary"] = reason
    if not move_job(claimed.job_id, JobStatus.RUNNING, status, **values):
        # Cancelled while we were finishing: the run's completion stands, the job stays as is.
        return "job-not-running"
    record_event(
        claimed.job_id,
        f"job_{status.value}",
        reason=reason,
        result_preview=output[:PREVIEW_CHARS] if status == JobStatus.SUCCEEDED else None,
    )
    return status.value


def _fail_attempt(claimed: Claimed, worker: str, reason: str) -> str:
    """The attempt cannot go on: fail the run and the job (job-level retry comes later)."""
    if not move_run(
        claimed.run_id,
        RunStatus.RUNNING,
        RunStatus.FAILED,
        held_by=worker,
        error=reason,
        lease_expires_at=None,
    ):
        db.session.rollback()
        return "lost"
    record_event(claimed.job_id, "movement_failed", movement=claimed.name, reason=reason)
    outcome = _end_job(claimed, JobStatus.FAILED, "", reason=reason)
    db.session.commit()
    return outcome


def _add_tokens(job_id: uuid.UUID, turn: TurnResult) -> None:
    db.session.execute(
        Job.__table__.update()
        .where(Job.id == job_id)
        .values(
            tokens_in=Job.tokens_in + turn.tokens_in, tokens_out=Job.tokens_out + turn.tokens_out
        )
    )


def _summary(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
