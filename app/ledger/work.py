"""The unit of work: one transaction that holds the job row lock and commits as a whole.

Every change to job, run, agent-task and event state happens inside `unit_of_work`:

    with unit_of_work(job_id) as work:
        if work.job_status != "running":
            return work.discard()
        ...ledger functions that take `work`...
        work.after(dispatch.send)        # published only once the commit is done

It locks the job row first (the per-job mutex: cancel, finish and the parallel join
never deadlock), buffers events and writes them in one statement, commits or rolls back
as a whole, and then runs the after-commit actions (enqueue after commit, DESIGN.md
invariant 4). Callers never commit.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from app.db import db, utcnow_plus
from app.models import Job, JobEvent, MovementRun

log = logging.getLogger(__name__)

AfterCommit = Callable[[], None]
_jobs, _runs, _events = Job.__table__, MovementRun.__table__, JobEvent.__table__


# What the job-end hooks read about the job that ended.
ENDED_COLUMNS = (
    _jobs.c.task_kind,
    _jobs.c.callback_url,
    _jobs.c.parent_job_id,
    _jobs.c.payload,
    _jobs.c.subtask_index,
    _jobs.c.result,
    _jobs.c.error_summary,
    _jobs.c.abort_reason,
    _jobs.c.call_run_id,
    _jobs.c.piece_name,
    _jobs.c.returned,
)
_ENDED = select(*ENDED_COLUMNS).where(_jobs.c.id == bindparam("job_id"))
# Statements built once: executing a prebuilt statement reuses its memoized cache key
# instead of building the statement and its key on every call (SQLAlchemy's statement
# building was the largest own-time cost in a worker's profile).
_LOCK = select(_jobs.c.status, _jobs.c.attempt).where(_jobs.c.id == bindparam("job_id"))
_LOCK = _LOCK.with_for_update()
_INSERT_EVENTS = insert(_events)


class Work:
    """What a unit of work may touch: its connection, events, after-commit actions."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.job_id: uuid.UUID | None = None
        self.job_status: str | None = None
        self.job_attempt: int | None = None
        self.job: Any = None  # the locked job's row, with the columns the caller asked for
        self.ended: dict[uuid.UUID, Any] = {}  # jobs whose end hooks run (ledger.jobs)
        self._events: list[dict[str, Any]] = []
        self._after: list[AfterCommit] = []
        self._discard = False

    def lock(self, job_id: uuid.UUID) -> str | None:
        """Lock the job's row for this transaction; its status, or None if it is gone."""
        row = self.conn.execute(_LOCK, {"job_id": job_id}).first()
        self.job_id = job_id
        self.job_status, self.job_attempt = (row.status, row.attempt) if row else (None, None)
        return self.job_status

    def lock_for_run(self, run_id: uuid.UUID, columns: tuple = ()) -> str | None:
        """lock() for the job a movement run belongs to, in one statement; `columns`
        (more of the job's columns) are read by the same statement into `self.job`."""
        row = self.conn.execute(_lock_for_run(columns), {"run_id": run_id}).first()
        if row is None:
            return None
        self.job_id, self.job_status, self.job_attempt = row.id, row.status, row.attempt
        self.job = row
        return self.job_status

    def ended_job(self, job_id: uuid.UUID) -> Any:
        """The row (ENDED_COLUMNS) of a job whose end hooks run (ledger.jobs.job_ended),
        read once for all of them: each hook reading it again was a statement per hook
        at every job end."""
        row = self.ended.get(job_id)
        if row is None:
            row = self.conn.execute(_ENDED, {"job_id": job_id}).first()
            if job_id in self.ended:
                self.ended[job_id] = row
        return row

    def event(self, kind: str, job_id: uuid.UUID | None = None, /, **data: Any) -> None:
        """Append to a job's event log when this unit commits."""
        target = job_id or self.job_id
        if target is None:
            raise ValueError(f"event {kind!r} has no job")
        self._events.append({"job_id": target, "kind": kind, "data": data})

    def after(self, action: AfterCommit) -> None:
        self._after.append(action)

    def after_all(self, actions: list[AfterCommit]) -> None:
        self._after.extend(actions)

    def discard(self) -> None:
        """Roll back instead of committing (e.g. a guarded change matched nothing)."""
        self._discard = True

    def _flush(self) -> None:
        if self._events:
            self.conn.execute(_INSERT_EVENTS, self._events)
            self._events = []


@functools.cache
def _lock_for_run(columns: tuple) -> Select:
    # Built once per column set: the statement and its cache key are reused (building
    # them was a measurable share of a claim's CPU).
    owner = select(_runs.c.job_id).where(_runs.c.id == bindparam("run_id")).scalar_subquery()
    wanted = [_jobs.c.id, _jobs.c.status, _jobs.c.attempt]
    wanted += [c for c in columns if c not in wanted]
    return select(*wanted).where(_jobs.c.id == owner).with_for_update()


@contextmanager
def unit_of_work(
    job_id: uuid.UUID | None = None, *, run_id: uuid.UUID | None = None, read: tuple = ()
) -> Iterator[Work]:
    """A transaction that locks the job (given directly or through one of its runs:
    then `read` names more job columns the locking statement returns in `work.job`)."""
    session = db.session
    work = Work(session.connection())
    try:
        if job_id is not None:
            work.lock(job_id)
        elif run_id is not None:
            work.lock_for_run(run_id, read)
        yield work
        if work._discard:
            session.rollback()
            return
        work._flush()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    run_after_commit(work._after)


def run_after_commit(actions: list[AfterCommit]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # the beat sweeps re-send what a failed publish left behind
            log.warning("after-commit action %r failed", action, exc_info=True)


def end_read() -> None:
    """Close the current read transaction (SQLite: release the lock; PG: the snapshot)."""
    db.session.rollback()


def renew_held(w: Work, table, running: str, owners: list[str], lease_seconds: float) -> set:
    """Extend every lease the listed holders have on ``table``'s running rows, in one
    statement (movement runs and agent tasks alike); the ids still held."""
    if not owners:
        return set()
    stmt = (
        update(table)
        .where(table.c.lease_owner.in_(owners), table.c.status == running)
        .values(lease_expires_at=utcnow_plus(lease_seconds))
        .returning(table.c.id)
    )
    return {row.id for row in w.conn.execute(stmt)}
