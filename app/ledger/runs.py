"""Movement runs and their phases: every write, each a guarded statement on a unit of work.

A transition that matches no row did not happen (someone else got there first);
asking for a move the status machine forbids raises before any SQL runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from app.contract import send_run
from app.db import utcnow, utcnow_plus
from app.ledger.work import Work
from app.models import MovementRun, RunPhase
from app.status import RUN_TERMINAL, RunStatus, run_transition_allowed

_runs, _phases = MovementRun.__table__, RunPhase.__table__


class IllegalTransition(ValueError):
    """A transition the status machine does not allow (a bug in the caller)."""


@dataclass(frozen=True)
class Dispatch:
    """A movement run to enqueue after commit."""

    run_id: uuid.UUID
    job_id: uuid.UUID
    movement: str
    queue: str
    countdown: float | None = None  # a delayed step (not_before): deliver no earlier

    def send(self) -> None:
        send_run(
            self.run_id,
            job_id=self.job_id,
            movement=self.movement,
            queue=self.queue,
            countdown=self.countdown,
        )


def _expected(current: RunStatus | Iterable[RunStatus], target: RunStatus) -> list[str]:
    expected = [current] if isinstance(current, str) else list(current)
    for status in expected:
        if not run_transition_allowed(status, target):
            raise IllegalTransition(f"movement run {status} -> {target}")
    return [str(s) for s in expected]


def move(
    w: Work,
    run_id: uuid.UUID,
    current: RunStatus | Iterable[RunStatus],
    target: RunStatus,
    *,
    held_by: str | None = None,
    **values: Any,
) -> bool:
    """Move a run; with `held_by`, only that lease holder may move it."""
    expected = _expected(current, target)
    if target in RUN_TERMINAL:
        values.setdefault("finished_at", utcnow())
        values.setdefault("lease_expires_at", None)
    conditions = [_runs.c.id == run_id, _runs.c.status.in_(expected)]
    if held_by is not None:
        conditions.append(_runs.c.lease_owner == held_by)
    stmt = (
        update(_runs).where(*conditions).values(status=target.value, updated_at=utcnow(), **values)
    )
    return w.conn.execute(stmt).rowcount == 1


def insert_run(
    w: Work,
    *,
    job_id: uuid.UUID,
    attempt: int,
    name: str,
    tier: str,
    iteration: int,
    kind: str = "agent",
    status: RunStatus = RunStatus.PENDING,
    parent_run_id: uuid.UUID | None = None,
    movement_iteration: int | None = None,
    retry_count: int = 0,
    **values: Any,
) -> uuid.UUID:
    if movement_iteration is None:
        earlier = w.conn.execute(
            select(func.count())
            .select_from(_runs)
            .where(_runs.c.job_id == job_id, _runs.c.attempt == attempt, _runs.c.name == name)
        ).scalar_one()
        movement_iteration = earlier + 1
    run_id = uuid.uuid4()
    w.conn.execute(
        insert(_runs).values(
            id=run_id,
            job_id=job_id,
            attempt=attempt,
            name=name,
            kind=kind,
            parent_run_id=parent_run_id,
            iteration=iteration,
            movement_iteration=movement_iteration,
            status=status.value,
            tier=tier,
            retry_count=retry_count,
            tokens_in=0,
            tokens_out=0,
            visits=0,
            started_at=utcnow() if status != RunStatus.PENDING else None,
            **values,
        )
    )
    return run_id


def claim(w: Work, run_id: uuid.UUID, owner: str, lease_seconds: float):
    """pending -> running with a lease: the compare-and-set behind effectively-once.

    Returns the claimed row (every column) or None when it was not pending.
    """
    stmt = (
        update(_runs)
        .where(
            _runs.c.id == run_id,
            _runs.c.status == RunStatus.PENDING.value,
            # delay_before_ms: a run is not claimed before its time (tasks.engine.claim
            # sends an early message again for the rest of the wait).
            or_(_runs.c.not_before.is_(None), _runs.c.not_before <= utcnow()),
        )
        .values(
            status=RunStatus.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=utcnow_plus(lease_seconds),
            started_at=func.coalesce(_runs.c.started_at, utcnow()),
            visits=_runs.c.visits + 1,
            updated_at=utcnow(),
        )
        .returning(*_runs.c)
    )
    return w.conn.execute(stmt).first()


def delay_left(w: Work, run_id: uuid.UUID) -> float | None:
    """Seconds until a pending delayed run may be claimed (None: it is not waiting)."""
    row = w.conn.execute(
        select(_runs.c.not_before, utcnow().label("now")).where(
            _runs.c.id == run_id,
            _runs.c.status == RunStatus.PENDING.value,
            _runs.c.not_before.is_not(None),
        )
    ).first()
    if row is None:
        return None
    at, now = _time(row.not_before), _time(row.now)
    if (at.tzinfo is None) != (now.tzinfo is None):  # SQLite: both are UTC, one is naive
        at, now = at.replace(tzinfo=None), now.replace(tzinfo=None)
    left = (at - now).total_seconds()
    return left if left > 0 else None


def _time(value) -> datetime:
    # SQLite may hand a computed time back as text.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def renew_leases(w: Work, owners: list[str], lease_seconds: float) -> set[uuid.UUID]:
    """Extend every listed holder's lease in one statement; the runs still held."""
    if not owners:
        return set()
    stmt = (
        update(_runs)
        .where(_runs.c.lease_owner.in_(owners), _runs.c.status == RunStatus.RUNNING.value)
        .values(lease_expires_at=utcnow_plus(lease_seconds))
        .returning(_runs.c.id)
    )
    return {row.id for row in w.conn.execute(stmt)}


def cancel_open(w: Work, job_id: uuid.UUID) -> int:
    """Cancel every unfinished run of a job (the job itself was just ended)."""
    open_states = [RunStatus.PENDING.value, RunStatus.RUNNING.value, RunStatus.WAITING.value]
    stmt = (
        update(_runs)
        .where(_runs.c.job_id == job_id, _runs.c.status.in_(open_states))
        .values(
            status=RunStatus.CANCELLED.value,
            finished_at=utcnow(),
            updated_at=utcnow(),
            lease_expires_at=None,
        )
    )
    return w.conn.execute(stmt).rowcount


def touch(w: Work, run_id: uuid.UUID, older_than: float | None) -> bool:
    """Bump a pending run's updated_at (a compare-and-set that makes a re-send once-only)."""
    conditions = [_runs.c.id == run_id, _runs.c.status == RunStatus.PENDING.value]
    if older_than is not None:
        conditions.append(_runs.c.updated_at < utcnow_plus(-older_than))
    return (
        w.conn.execute(update(_runs).where(*conditions).values(updated_at=utcnow())).rowcount == 1
    )


def set_queue(w: Work, run_id: uuid.UUID, queue: str) -> bool:
    """Re-route a pending run to another queue (a dedicated agent's)."""
    stmt = (
        update(_runs)
        .where(_runs.c.id == run_id, _runs.c.status == RunStatus.PENDING.value)
        .values(tier=queue, updated_at=utcnow())
    )
    return w.conn.execute(stmt).rowcount == 1


# -- phases ---------------------------------------------------------------------------


def record_phase(w: Work, run_id: uuid.UUID, owner: str | None, row: dict[str, Any]) -> bool:
    """Checkpoint one model exchange, only while `owner` still holds the run."""
    if owner is not None:
        held = w.conn.execute(
            select(_runs.c.id).where(
                _runs.c.id == run_id,
                _runs.c.status == RunStatus.RUNNING.value,
                _runs.c.lease_owner == owner,
            )
        ).first()
        if held is None:
            return False
    w.conn.execute(insert(_phases).values(run_id=run_id, **row))
    return True
