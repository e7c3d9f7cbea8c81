"""How a job attempt ends: success, an aborted attempt, or a failed movement.

`succeed_job` and `fail_job_attempt` run inside the caller's transaction (which
already holds the job lock) and return (outcome, after-commit actions);
`fail_attempt` is its own transaction. Job-end hooks (app.lifecycle) run here.
"""

from __future__ import annotations

import uuid

from app.db import db
from app.lifecycle import AfterCommit, job_ended, run_after_commit
from app.status import JobStatus, RunStatus
from app.transitions import cancel_open_runs, lock_job, move_job, move_run, record_event

PREVIEW_CHARS = 400


def succeed_job(job_id: uuid.UUID, output: str) -> tuple[str, list[AfterCommit]]:
    if not move_job(
        job_id, JobStatus.RUNNING, JobStatus.SUCCEEDED, result=output, current_activity=None
    ):
        return "job-not-running", []
    cancel_open_runs(job_id)
    record_event(job_id, "job_succeeded", result_preview=output[:PREVIEW_CHARS])
    return JobStatus.SUCCEEDED.value, job_ended(job_id, JobStatus.SUCCEEDED.value)


def fail_job_attempt(job_id: uuid.UUID, reason: str) -> tuple[str, list[AfterCommit]]:
    """The current attempt cannot go on (an ABORT, no matching rule, a failed movement)."""
    if not move_job(
        job_id,
        JobStatus.RUNNING,
        JobStatus.FAILED,
        abort_reason=reason,
        error_summary=reason,
        current_activity=None,
    ):
        return "job-not-running", []
    cancel_open_runs(job_id)  # e.g. the siblings of a failed sub-movement
    record_event(job_id, "job_failed", reason=reason)
    return JobStatus.FAILED.value, job_ended(job_id, JobStatus.FAILED.value)


def fail_attempt(
    job_id: uuid.UUID,
    run_id: uuid.UUID,
    movement: str,
    worker: str | None,
    reason: str,
    *,
    error: Exception | None = None,
) -> str:
    """A movement run failed (e.g. the LLM call gave up): fail it, then the attempt."""
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
    outcome, after = fail_job_attempt(job_id, reason)
    db.session.commit()
    run_after_commit(after)
    return outcome
