"""The only writer of job and movement-run status.

Every change is a guarded UPDATE: `... WHERE id = :id AND status IN (:expected)`.
A transition that matches no row did not happen; callers read `False` as "someone
else got there first" (DESIGN.md invariant 2). Asking for a move the status
machine forbids is a programming error and raises before any SQL runs.

Nothing here commits: the caller owns the transaction, so a transition and the
rows that go with it (the next movement run, an event) land together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from app.db import db, utcnow, utcnow_plus
from app.models import Job, JobEvent, MovementRun
from app.status import (
    JOB_TERMINAL,
    RUN_TERMINAL,
    JobStatus,
    RunStatus,
    job_transition_allowed,
    run_transition_allowed,
)


class IllegalTransition(ValueError):
    """A transition the status machine does not allow (a bug in the caller)."""


def _expected(current: str | Iterable[str]) -> list[str]:
    return [current] if isinstance(current, str) else list(current)


def move_job(
    job_id: uuid.UUID,
    current: JobStatus | Iterable[JobStatus],
    target: JobStatus,
    **values: Any,
) -> bool:
    """Move a job from one of `current` to `target`, setting `values` with it."""
    expected = _expected(current)
    for status in expected:
        if not job_transition_allowed(status, target):
            raise IllegalTransition(f"job {status} -> {target}")
    if target == JobStatus.RUNNING and "started_at" not in values:
        values["started_at"] = db.func.coalesce(Job.started_at, utcnow())
    if JobStatus(target) in JOB_TERMINAL:
        values.setdefault("finished_at", utcnow())
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_(expected))
        .values(status=target.value, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).rowcount == 1


def move_run(
    run_id: uuid.UUID,
    current: RunStatus | Iterable[RunStatus],
    target: RunStatus,
    *,
    held_by: str | None = None,
    **values: Any,
) -> bool:
    """Move a movement run; with `held_by`, only that lease holder may move it."""
    expected = _expected(current)
    for status in expected:
        if not run_transition_allowed(status, target):
            raise IllegalTransition(f"movement run {status} -> {target}")
    if RunStatus(target) in RUN_TERMINAL:
        values.setdefault("finished_at", utcnow())
    conditions = [MovementRun.id == run_id, MovementRun.status.in_(expected)]
    if held_by is not None:
        conditions.append(MovementRun.lease_owner == held_by)
    stmt = (
        update(MovementRun)
        .where(*conditions)
        .values(status=target.value, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).rowcount == 1


def claim_run(run_id: uuid.UUID, lease_owner: str, lease_seconds: float) -> bool:
    """pending -> running with a lease: the compare-and-set that makes delivery effectively-once."""
    return move_run(
        run_id,
        RunStatus.PENDING,
        RunStatus.RUNNING,
        lease_owner=lease_owner,
        lease_expires_at=utcnow_plus(lease_seconds),
        started_at=utcnow(),
    )


def renew_lease(run_id: uuid.UUID, lease_owner: str, lease_seconds: float) -> bool:
    """Extend a held lease. False means the run is no longer ours (cancelled or timed out)."""
    stmt = (
        update(MovementRun)
        .where(
            MovementRun.id == run_id,
            MovementRun.status == RunStatus.RUNNING.value,
            MovementRun.lease_owner == lease_owner,
        )
        .values(lease_expires_at=utcnow_plus(lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).rowcount == 1


def cancel_open_runs(job_id: uuid.UUID) -> int:
    """Cancel every pending or running run of a job (the job itself was just cancelled)."""
    stmt = (
        update(MovementRun)
        .where(
            MovementRun.job_id == job_id,
            MovementRun.status.in_([RunStatus.PENDING.value, RunStatus.RUNNING.value]),
        )
        .values(status=RunStatus.CANCELLED.value, finished_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).rowcount


def lock_job(job_id: uuid.UUID) -> str | None:
    """Lock the job's row for this transaction and return its status.

    The job row is the per-job mutex: every transaction that changes a job's runs
    takes it first, so cancel, finish and the parallel join never deadlock.
    """
    return db.session.scalar(select(Job.status).where(Job.id == job_id).with_for_update())


def lock_job_of_run(run_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    """lock_job for the job a movement run belongs to, in one statement: (job id, status)."""
    owner = select(MovementRun.job_id).where(MovementRun.id == run_id).scalar_subquery()
    row = db.session.execute(
        select(Job.id, Job.status).where(Job.id == owner).with_for_update()
    ).first()
    return (row.id, row.status) if row else None


def record_event(job_id: uuid.UUID, kind: str, **data: Any) -> None:
    """Append to the job's event log in the caller's transaction."""
    db.session.add(JobEvent(job_id=job_id, kind=kind, data=data))
