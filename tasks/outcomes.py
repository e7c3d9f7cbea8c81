"""How a job attempt ends: success, a retry with a handoff, a final failure, or a hand-back.

`succeed_job` and `fail_job_attempt` run inside the caller's transaction (which
already holds the job lock) and return (outcome, after-commit actions);
`fail_attempt` and `requeue_unreachable` are their own transactions. Job-end hooks
(app.lifecycle) run here, and only for a real end: a job going to `retry` has not
ended.

Job-level retry: an attempt that fails while `attempt < max_attempts` moves the job
`running -> retry` with `next_retry_at` from the database clock plus the backoff,
and leaves a **handoff** artifact the next attempt's prompts receive
(tasks.context). The `dispatch_retries` beat task starts the next attempt.
"""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import func, select

from app.artifacts import HANDOFF
from app.config import Settings
from app.db import db, utcnow_plus
from app.endpoints import record_health
from app.lifecycle import AfterCommit, job_ended, run_after_commit
from app.models import Job, JobArtifact, JobEvent, MovementRun
from app.status import JobStatus, RunStatus
from app.transitions import cancel_open_runs, lock_job, move_job, move_run, record_event
from tasks.history import history_lines

PREVIEW_CHARS = 400
HANDOFF_PREVIEW_CHARS = 200
REQUEUED_EVENT = "job_requeued"


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def succeed_job(job_id: uuid.UUID, output: str) -> tuple[str, list[AfterCommit]]:
    if not move_job(
        job_id, JobStatus.RUNNING, JobStatus.SUCCEEDED, result=output, current_activity=None
    ):
        return "job-not-running", []
    cancel_open_runs(job_id)
    record_event(job_id, "job_succeeded", result_preview=output[:PREVIEW_CHARS])
    return JobStatus.SUCCEEDED.value, job_ended(job_id, JobStatus.SUCCEEDED.value)


def backoff_for(settings: Settings, attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based); the last entry repeats."""
    steps = settings.retry_backoff_seconds
    return steps[min(attempt, len(steps)) - 1]


def fail_job_attempt(
    job_id: uuid.UUID, reason: str, *, retry: bool | None = None
) -> tuple[str, list[AfterCommit]]:
    """The current attempt cannot go on (an ABORT, no matching rule, a failed movement).

    With `retry` (default: RETRY_ON_ABORT, since the route-level callers are the
    piece's own ABORT decisions) and attempts left, the job goes to `retry` with a
    handoff; otherwise it fails for good.
    """
    settings = _settings()
    if retry is None:
        retry = settings.retry_on_abort
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        return "job-not-running", []
    if retry and job.attempt < job.max_attempts:
        wait = backoff_for(settings, job.attempt)
        if not move_job(
            job_id,
            JobStatus.RUNNING,
            JobStatus.RETRY,
            next_retry_at=utcnow_plus(wait),
            error_summary=reason,
            current_activity=f"retrying in {wait:g}s (attempt {job.attempt + 1})",
        ):
            return "job-not-running", []
        cancel_open_runs(job_id)
        handoff = build_handoff(job, reason, settings.handoff_max_chars)
        db.session.add(
            JobArtifact(
                job_id=job_id, kind=HANDOFF, name="handoff", content=handoff, attempt=job.attempt
            )
        )
        record_event(
            job_id,
            "job_retry_scheduled",
            reason=reason,
            attempt=job.attempt,
            next_attempt=job.attempt + 1,
            backoff_s=wait,
        )
        return JobStatus.RETRY.value, []
    if not move_job(
        job_id,
        JobStatus.RUNNING,
        JobStatus.FAILED,
        abort_reason=reason,
        error_summary=_summary(job, reason),
        current_activity=None,
    ):
        return "job-not-running", []
    cancel_open_runs(job_id)  # e.g. the siblings of a failed sub-movement
    record_event(job_id, "job_failed", reason=reason, attempt=job.attempt)
    return JobStatus.FAILED.value, job_ended(job_id, JobStatus.FAILED.value)


def _summary(job: Job, reason: str) -> str:
    if job.attempt <= 1:
        return reason
    return f"attempt {job.attempt} of {job.max_attempts} failed: {reason}"


def build_handoff(job: Job, reason: str, max_chars: int) -> str:
    """What the next attempt should know: why this one failed, what it did, lessons.

    Every part is capped so the handoff (which rides in every prompt of the next
    attempt) stays within `max_chars`.
    """
    runs = db.session.scalars(
        select(MovementRun)
        .where(MovementRun.job_id == job.id, MovementRun.attempt == job.attempt)
        .order_by(MovementRun.iteration, MovementRun.created_at)
    ).all()
    lines = [
        f"Attempt {job.attempt} of {job.max_attempts} failed.",
        f"Failure reason: {reason[:500]}",
        "",
        "Movement history of that attempt:",
    ]
    lines += history_lines(runs[-20:], preview_chars=HANDOFF_PREVIEW_CHARS, error_chars=160)
    tools = _tools_used(job.id)
    if tools:
        lines += ["", f"Tools used: {', '.join(tools)}"]
    from app.notes import notes_for  # late: the notes module is optional to this one

    lessons = notes_for(job.owner_id, job.piece_name, min(800, max_chars // 4))
    if lessons:
        lines += ["", "Recent lessons:", lessons]
    lines += [
        "",
        "Do not repeat work the history shows as finished; fix what made it fail, then continue.",
    ]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[: max_chars - 15].rstrip() + "\n[...truncated]"
    return text


def _tools_used(job_id: uuid.UUID) -> list[str]:
    # Tool events come from the agent runtime; read them by kind, tolerate none.
    rows = db.session.execute(
        select(JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.kind.in_(("tool_call", "tool_used")))
        .order_by(JobEvent.id.desc())
        .limit(50)
    ).scalars()
    names = []
    for data in rows:
        name = (data or {}).get("tool") or (data or {}).get("name")
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names[:10]


def fail_attempt(
    job_id: uuid.UUID,
    run_id: uuid.UUID,
    movement: str,
    worker: str | None,
    reason: str,
    *,
    error: Exception | None = None,
) -> str:
    """A movement run failed (e.g. the LLM call gave up): fail it, then the attempt.

    An endpoint that never answered (`error.unreachable`) is not the job's fault:
    the run is handed back without consuming an attempt (requeue_unreachable).
    """
    if getattr(error, "unreachable", False) and worker is not None:
        outcome = requeue_unreachable(job_id, run_id, movement, worker, reason)
        if outcome is not None:
            return outcome
    if lock_job(job_id) != JobStatus.RUNNING:
        db.session.rollback()
        return "job-not-running"
    if not move_run(
        run_id,
        RunStatus.RUNNING,
        RunStatus.FAILED,
        held_by=worker,
        error=reason,
        lease_expires_at=None,
    ):
        db.session.rollback()
        return "lost"
    record_event(job_id, "movement_failed", movement=movement, reason=reason)
    outcome, after = fail_job_attempt(job_id, reason, retry=True)
    db.session.commit()
    run_after_commit(after)
    return outcome


def requeue_unreachable(
    job_id: uuid.UUID, run_id: uuid.UUID, movement: str, worker: str, reason: str
) -> str | None:
    """Hand a run back because its tier's endpoint is down; None = over the limit, fail it.

    The run is closed as failed (its record stays) and a fresh pending copy takes its
    place; it is not sent now but by `probe_llm_endpoints` once the tier answers
    again. The job goes back to `queued` unless other runs of it are in flight.
    """
    settings = _settings()
    if lock_job(job_id) != JobStatus.RUNNING:
        db.session.rollback()
        return "job-not-running"
    job = db.session.get(Job, job_id, populate_existing=True)
    requeues = db.session.scalar(
        select(func.count())
        .select_from(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.kind == REQUEUED_EVENT)
    )
    if (requeues or 0) >= settings.unreachable_max_requeues:
        db.session.rollback()
        return None
    run = db.session.get(MovementRun, run_id, populate_existing=True)
    if not move_run(
        run_id,
        RunStatus.RUNNING,
        RunStatus.FAILED,
        held_by=worker,
        error=f"handed back: {reason}",
        lease_expires_at=None,
    ):
        db.session.rollback()
        return "lost"
    db.session.add(
        MovementRun(
            id=uuid.uuid4(),
            job_id=job_id,
            attempt=run.attempt,
            name=run.name,
            parent_run_id=run.parent_run_id,
            iteration=run.iteration,
            movement_iteration=run.movement_iteration,
            status=RunStatus.PENDING.value,
            tier=run.tier,
            retry_count=run.retry_count,
            tokens_in=0,
            tokens_out=0,
        )
    )
    in_flight = db.session.scalar(
        select(func.count())
        .select_from(MovementRun)
        .where(
            MovementRun.job_id == job_id,
            MovementRun.status == RunStatus.RUNNING.value,
            MovementRun.lease_owner.is_not(None),
            MovementRun.id != run_id,
        )
    )
    if not in_flight:
        move_job(
            job_id,
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            current_activity=f"waiting for the {run.tier} endpoint",
        )
    endpoint = settings.tier_endpoint(run.tier)
    record_health(run.tier, healthy=False, base_url=endpoint.base_url, error=reason[:500])
    record_event(
        job_id,
        REQUEUED_EVENT,
        movement=movement,
        tier=run.tier,
        reason=reason,
        attempt=job.attempt,
    )
    db.session.commit()
    return "requeued"
