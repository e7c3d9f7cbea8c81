"""Job-level operations shared by the API and the workers.

Each function works inside the caller's transaction and returns what must be
enqueued once it commits; nothing here publishes (DESIGN.md invariant 4).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.db import db, utcnow
from app.lifecycle import AfterCommit, job_ended
from app.models import Job, MovementRun
from app.status import JOB_CANCELLABLE, JobStatus, RunStatus
from app.transitions import cancel_open_runs, lock_job, move_job, record_event
from pieces import Piece


@dataclass(frozen=True)
class Dispatch:
    """A movement run to enqueue after commit."""

    run_id: uuid.UUID
    job_id: uuid.UUID
    movement: str
    tier: str

    def send(self) -> None:
        from app.dispatch import enqueue_movement

        enqueue_movement(self.run_id, job_id=self.job_id, movement=self.movement, tier=self.tier)


def send_all(dispatches: list[Dispatch]) -> None:
    for dispatch in dispatches:
        dispatch.send()


def create_job(
    *,
    owner_id: str,
    instruction: str,
    piece: Piece,
    tier: str,
    max_attempts: int,
    visibility: str = "private",
    payload: dict[str, Any] | None = None,
    task_kind: str = "piece",
    parent_job_id: uuid.UUID | None = None,
    subtask_depth: int = 0,
) -> tuple[Job, list[Dispatch]]:
    job = Job(
        id=uuid.uuid4(),
        owner_id=owner_id,
        visibility=visibility,
        tier=tier,
        piece_name=piece.name,
        piece_snapshot=piece.model_dump(mode="json"),
        instruction=instruction,
        status=JobStatus.QUEUED.value,
        attempt=1,
        max_attempts=max_attempts,
        payload=payload or {},
        task_kind=task_kind,
        parent_job_id=parent_job_id,
        subtask_depth=subtask_depth,
        current_movement=piece.initial_movement,
        tokens_in=0,
        tokens_out=0,
    )
    db.session.add(job)
    db.session.flush()
    record_event(
        job.id,
        "job_submitted",
        piece=piece.name,
        tier=tier,
        movement=piece.initial_movement,
        attempt=1,
    )
    dispatches = start_movement(job, piece, piece.initial_movement, iteration=1)
    return job, dispatches


def start_movement(job: Job, piece: Piece, name: str, *, iteration: int) -> list[Dispatch]:
    """Insert the runs for movement `name`: one, or a parent and one per sub-movement."""
    movement = piece.movement(name)
    tier = movement.tier or job.tier
    if not movement.parallel:
        run = _insert_run(job, name, tier=tier, iteration=iteration)
        return [Dispatch(run.id, job.id, name, tier)]
    # The parent run only coordinates: it holds no lease and calls no LLM; the last
    # sub-movement to finish completes it (tasks.execution.join_parallel).
    parent = _insert_run(job, name, tier=tier, iteration=iteration, status=RunStatus.RUNNING)
    record_event(
        job.id,
        "parallel_started",
        movement=name,
        iteration=iteration,
        sub_movements=[sub.name for sub in movement.parallel],
    )
    dispatches = []
    for sub in movement.parallel:
        sub_tier = sub.tier or tier
        run = _insert_run(
            job, sub.name, tier=sub_tier, iteration=iteration, parent_run_id=parent.id
        )
        dispatches.append(Dispatch(run.id, job.id, sub.name, sub_tier))
    return dispatches


def _insert_run(
    job: Job,
    name: str,
    *,
    tier: str,
    iteration: int,
    status: RunStatus = RunStatus.PENDING,
    parent_run_id: uuid.UUID | None = None,
) -> MovementRun:
    earlier = db.session.scalar(
        select(func.count())
        .select_from(MovementRun)
        .where(
            MovementRun.job_id == job.id,
            MovementRun.attempt == job.attempt,
            MovementRun.name == name,
        )
    )
    run = MovementRun(
        id=uuid.uuid4(),
        job_id=job.id,
        attempt=job.attempt,
        name=name,
        parent_run_id=parent_run_id,
        iteration=iteration,
        movement_iteration=(earlier or 0) + 1,
        status=status.value,
        tier=tier,
        retry_count=0,
        tokens_in=0,
        tokens_out=0,
        started_at=utcnow() if status == RunStatus.RUNNING else None,
    )
    db.session.add(run)
    db.session.flush()
    return run


def pending_runs(job: Job) -> list[Dispatch]:
    """Dispatches for the job's pending runs in its current attempt (to resume it)."""
    runs = db.session.scalars(
        select(MovementRun).where(
            MovementRun.job_id == job.id,
            MovementRun.attempt == job.attempt,
            MovementRun.status == RunStatus.PENDING.value,
        )
    )
    return [Dispatch(r.id, job.id, r.name, r.tier) for r in runs]


def resume_job(job: Job, waiting: JobStatus, reason: str) -> list[Dispatch]:
    """A job waiting (for a human, or for its subtasks) goes back to the queue, at the same
    point: its pending runs are returned for sending after commit."""
    move_job(job.id, waiting, JobStatus.QUEUED, current_activity=None)
    record_event(job.id, "job_resumed", reason=reason)
    return pending_runs(job)


def cancel_job(job: Job, reason: str) -> list[AfterCommit] | None:
    """Cancel a job that is not yet terminal; open runs are cancelled with it.

    Returns the job-end hooks' after-commit work, or None if the job could not be
    cancelled (it had already ended).
    """
    lock_job(job.id)
    if not move_job(
        job.id, JOB_CANCELLABLE, JobStatus.CANCELLED, abort_reason=reason, current_activity=None
    ):
        return None
    cancel_open_runs(job.id)
    record_event(job.id, "job_cancelled", reason=reason)
    return job_ended(job.id, JobStatus.CANCELLED.value)
