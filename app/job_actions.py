"""What a user can do to a job, as units of work: submit, cancel, input, answer, retry, replay.

The API views (and the console's actions) call these; each runs one unit of work on
the ledger and raises a domain error when the job's state does not allow it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.domain_errors import IllegalState
from app.handoff import build_handoff
from app.ledger import (
    HANDOFF,
    INPUT,
    add_artifact,
    cancel,
    create,
    resume,
    start_attempt,
    unit_of_work,
)
from app.models import Job
from app.status import JOB_TERMINAL, JobStatus
from pieces import Piece

_jobs = Job.__table__


def submit(*, piece: Piece, **fields: Any) -> uuid.UUID:
    with unit_of_work() as work:
        job_id, dispatches = create(work, piece=piece, **fields)
        work.after_all([d.send for d in dispatches])
    return job_id


def cancel_job(job_id: uuid.UUID, reason: str) -> None:
    with unit_of_work(job_id) as work:
        if work.job_status in JOB_TERMINAL:
            raise _finished(work.job_status, "only unfinished jobs can be cancelled")
        cancel(work, job_id, reason)


def give_input(job_id: uuid.UUID, text: str) -> str:
    """Store a user input; a job waiting for input (or an answer) resumes. Its new status."""
    with unit_of_work(job_id) as work:
        status = work.job_status
        if status in JOB_TERMINAL:
            raise _finished(status, "it takes no more input")
        add_artifact(work, job_id, INPUT, "input", text, work.job_attempt or 1)
        work.event("input_received", chars=len(text))
        if status == JobStatus.WAITING_HUMAN:
            resume(work, job_id, JobStatus.WAITING_HUMAN, "user input")
            status = JobStatus.QUEUED.value
    return status or ""


def answer(job_id: uuid.UUID, text: str) -> None:
    """Answer the question a job asked (ask_human, TAKT's "blocked")."""
    with unit_of_work(job_id) as work:
        if work.job_status != JobStatus.WAITING_HUMAN:
            raise IllegalState(
                f"job is {work.job_status}; only a job waiting for a human takes an answer",
                details={"status": work.job_status},
            )
        add_artifact(work, job_id, INPUT, "input", text, work.job_attempt or 1)
        work.event("human_answered", chars=len(text))
        resume(work, job_id, JobStatus.WAITING_HUMAN, "answer")


def retry(job_id: uuid.UUID, piece: Piece, who: str) -> None:
    """A failed or cancelled job starts a new attempt from its first movement, with the
    failed attempt's handoff in its prompts (as an automatic retry would have)."""
    from flask import current_app

    settings = current_app.extensions["legato.settings"]
    with unit_of_work(job_id) as work:
        if work.job_status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise IllegalState(
                f"job is {work.job_status}; only a failed or cancelled job can be retried",
                details={"status": work.job_status},
            )
        job = work.conn.execute(
            select(
                _jobs.c.attempt,
                _jobs.c.max_attempts,
                _jobs.c.owner_id,
                _jobs.c.piece_name,
                _jobs.c.abort_reason,
            ).where(_jobs.c.id == job_id)
        ).one()
        reason = job.abort_reason or f"job {work.job_status}"
        handoff = build_handoff(work.conn, job_id, job, reason, settings.handoff_max_chars)
        add_artifact(work, job_id, HANDOFF, "handoff", handoff, job.attempt)
        dispatches = start_attempt(
            work,
            job_id,
            piece,
            current=(JobStatus.FAILED, JobStatus.CANCELLED),
            reason=f"retried by {who}",
        )
        work.after_all([d.send for d in dispatches or []])


def _finished(status: str | None, what: str) -> IllegalState:
    return IllegalState(f"job is {status}; {what}", details={"status": status})
