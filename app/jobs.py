"""Job-level operations shared by the API and the workers.

Each function works inside the caller's transaction and returns what must be
enqueued once it commits; nothing here publishes (DESIGN.md invariant 4).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.db import db
from app.models import Job, MovementRun
from app.status import JOB_CANCELLABLE, JobStatus, RunStatus
from app.transitions import cancel_open_runs, move_job, record_event


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


def movement_tier(piece_snapshot: dict[str, Any], movement: str, job_tier: str) -> str:
    """A movement runs on its own tier when the piece names one, else on the job's."""
    for m in piece_snapshot.get("movements", []):
        if m.get("name") == movement:
            return m.get("tier") or job_tier
    return job_tier


def create_job(
    *,
    owner_id: str,
    instruction: str,
    piece_name: str,
    piece_snapshot: dict[str, Any],
    initial_movement: str,
    tier: str,
    max_attempts: int,
    visibility: str = "private",
    payload: dict[str, Any] | None = None,
    task_kind: str = "piece",
    parent_job_id: uuid.UUID | None = None,
    subtask_depth: int = 0,
) -> tuple[Job, Dispatch]:
    job = Job(
        id=uuid.uuid4(),
        owner_id=owner_id,
        visibility=visibility,
        tier=tier,
        piece_name=piece_name,
        piece_snapshot=piece_snapshot,
        instruction=instruction,
        status=JobStatus.QUEUED.value,
        attempt=1,
        max_attempts=max_attempts,
        payload=payload or {},
        task_kind=task_kind,
        parent_job_id=parent_job_id,
        subtask_depth=subtask_depth,
        current_movement=initial_movement,
        tokens_in=0,
        tokens_out=0,
    )
    db.session.add(job)
    db.session.flush()
    dispatch = add_run(job, initial_movement, iteration=1)
    record_event(
        job.id, "job_submitted", piece=piece_name, tier=tier, movement=initial_movement, attempt=1
    )
    return job, dispatch


def add_run(
    job: Job, movement: str, *, iteration: int, parent_run_id: uuid.UUID | None = None
) -> Dispatch:
    """Insert the next pending run of `movement` in the job's current attempt."""
    previous = db.session.scalar(
        select(func.count())
        .select_from(MovementRun)
        .where(
            MovementRun.job_id == job.id,
            MovementRun.attempt == job.attempt,
            MovementRun.name == movement,
        )
    )
    tier = movement_tier(job.piece_snapshot, movement, job.tier)
    run = MovementRun(
        id=uuid.uuid4(),
        job_id=job.id,
        attempt=job.attempt,
        name=movement,
        parent_run_id=parent_run_id,
        iteration=iteration,
        movement_iteration=(previous or 0) + 1,
        status=RunStatus.PENDING.value,
        tier=tier,
        retry_count=0,
        tokens_in=0,
        tokens_out=0,
    )
    db.session.add(run)
    return Dispatch(run_id=run.id, job_id=job.id, movement=movement, tier=tier)


def cancel_job(job: Job, reason: str) -> bool:
    """Cancel a job that is not yet terminal; open runs are cancelled with it."""
    if not move_job(
        job.id, JOB_CANCELLABLE, JobStatus.CANCELLED, abort_reason=reason, current_activity=None
    ):
        return False
    cancel_open_runs(job.id)
    record_event(job.id, "job_cancelled", reason=reason)
    return True
