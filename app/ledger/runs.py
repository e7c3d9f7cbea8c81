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

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    null,
    or_,
    select,
    update,
)

from app.contract import send_run
from app.db import utcnow, utcnow_plus
from app.ledger.work import Work, renew_held
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


def park(w: Work, run_id: uuid.UUID, holder: str, **values: Any) -> bool:
    """running -> waiting by its lease holder, the lease dropped: the run waits for its
    members, its parts or its called job, and whoever ends those wakes it."""
    return move(
        w,
        run_id,
        RunStatus.RUNNING,
        RunStatus.WAITING,
        held_by=holder,
        lease_expires_at=None,
        **values,
    )


def end_run(
    w: Work,
    run_id: uuid.UUID,
    target: RunStatus,
    *,
    held_by: str,
    phases: list[dict[str, Any]],
    **values: Any,
) -> Any | None:
    """running -> `target` for the lease holder, recording the visit's last `phases`.

    One guarded UPDATE that also sets the run's totals (its phases recorded before plus
    these) and returns them (tokens_in, tokens_out, latency_ms); the phases are inserted
    after it, only when it matched. None: the lease was lost, nothing was written.
    """
    _expected(RunStatus.RUNNING, target)
    if target not in RUN_TERMINAL:
        raise IllegalTransition(f"end_run to {target}")
    params = {f"add_{c}": sum(p.get(c, 0) for p in phases) for c in _TOTALS}
    params.update(b_run_id=run_id, b_owner=held_by, b_status=target.value)
    # The other columns are SET from the parameters' keys (the statement stays prebuilt).
    ended = w.conn.execute(_END_RUN, {**values, **params}).first()
    if ended is not None:
        insert_phases(w, run_id, phases)
    return ended


_TOTALS = ("tokens_in", "tokens_out", "latency_ms")


def _recorded(column: str):
    """The sum of a run's recorded phases' `column` (a scalar subquery)."""
    return (
        select(func.coalesce(func.sum(_phases.c[column]), 0))
        .where(_phases.c.run_id == bindparam("b_run_id"))
        .scalar_subquery()
    )


_END_RUN = (
    update(_runs)
    .where(
        _runs.c.id == bindparam("b_run_id"),
        _runs.c.status == RunStatus.RUNNING.value,
        _runs.c.lease_owner == bindparam("b_owner", type_=String),
    )
    .values(
        status=bindparam("b_status", type_=String),
        updated_at=utcnow(),
        finished_at=utcnow(),
        lease_expires_at=None,
        **{c: _recorded(c) + bindparam(f"add_{c}", type_=Integer) for c in _TOTALS},
    )
    .returning(*(_runs.c[c] for c in _TOTALS))
)


_INSERT_RUN = insert(_runs).values(
    movement_iteration=func.coalesce(
        bindparam("b_movement_iteration", type_=Integer),
        select(func.count() + 1)
        .select_from(_runs)
        .where(
            _runs.c.job_id == bindparam("b_job_id"),
            _runs.c.attempt == bindparam("b_attempt"),
            _runs.c.name == bindparam("b_name"),
        )
        .scalar_subquery(),
    ),
    started_at=case((bindparam("b_started", type_=Boolean), utcnow()), else_=null()),
    # delay_before_ms, on the database's clock like every other time.
    not_before=case(
        (
            cast(bindparam("b_delay", type_=Float), Float).is_not(None),
            utcnow_plus(bindparam("b_delay", type_=Float)),
        ),
        else_=null(),
    ),
)


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
    delay: float | None = None,
    **values: Any,
) -> uuid.UUID:
    """A new run; ``delay`` (seconds) keeps it from being claimed before then."""
    run_id = uuid.uuid4()
    params = dict(
        id=run_id,
        job_id=job_id,
        attempt=attempt,
        name=name,
        kind=kind,
        parent_run_id=parent_run_id,
        iteration=iteration,
        status=status.value,
        tier=tier,
        retry_count=retry_count,
        tokens_in=0,
        tokens_out=0,
        visits=0,
        **values,
    )
    # Not counted when given; counted by the INSERT itself otherwise (one statement).
    params.update(b_job_id=job_id, b_attempt=attempt, b_name=name)
    params["b_movement_iteration"] = movement_iteration
    params["b_started"] = status != RunStatus.PENDING
    params["b_delay"] = delay
    w.conn.execute(_INSERT_RUN, params)
    return run_id


_CLAIM = (
    update(_runs)
    .where(
        _runs.c.id == bindparam("b_run_id"),
        _runs.c.status == RunStatus.PENDING.value,
        # delay_before_ms: a run is not claimed before its time (tasks.engine.claim
        # sends an early message again for the rest of the wait).
        or_(_runs.c.not_before.is_(None), _runs.c.not_before <= utcnow()),
    )
    .values(
        status=RunStatus.RUNNING.value,
        lease_owner=bindparam("b_owner", type_=String),
        lease_expires_at=utcnow_plus(bindparam("b_lease", type_=Float)),
        started_at=func.coalesce(_runs.c.started_at, utcnow()),
        visits=_runs.c.visits + 1,
        updated_at=utcnow(),
    )
    .returning(*_runs.c)
)


def claim(w: Work, run_id: uuid.UUID, owner: str, lease_seconds: float):
    """pending -> running with a lease: the compare-and-set behind effectively-once.

    Returns the claimed row (every column) or None when it was not pending.
    """
    params = {"b_run_id": run_id, "b_owner": owner, "b_lease": float(lease_seconds)}
    return w.conn.execute(_CLAIM, params).first()


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
    return renew_held(w, _runs, RunStatus.RUNNING.value, owners, lease_seconds)


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


def insert_phases(w: Work, run_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    """Phases of a run whose lease the caller has just checked, one INSERT per set of
    columns (usually one: the rows of a visit have the same keys)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append({"run_id": run_id, **row})
    for group in groups.values():
        w.conn.execute(_INSERT_PHASES, group)


_INSERT_PHASES = insert(_phases)
