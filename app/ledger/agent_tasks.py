"""Agent turns (chat turns and agent tasks) in the ledger: the same lease discipline as runs.

    pending --claim (lease)--> running --finish (by the lease holder)--> succeeded | failed
       ^                          |
       +---- lease expired -------+  (the recovery sweep; failed once the budget is spent)

Every change is a guarded statement checked against app.status.TASK_TRANSITIONS, run
inside a `unit_of_work` (these rows belong to no job, so nothing is locked but the row).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select, update

from app.chat import AgentTask, ChatMessage, ChatSession
from app.db import utcnow, utcnow_plus
from app.ledger.work import Work, renew_held
from app.status import TaskStatus, task_transition_allowed

_tasks = AgentTask.__table__
T = TaskStatus


class IllegalTaskTransition(RuntimeError):
    pass


def _check(current: TaskStatus, target: TaskStatus) -> None:
    if not task_transition_allowed(current, target):
        raise IllegalTaskTransition(f"agent task {current} -> {target}")


def insert_task(
    w: Work,
    *,
    agent_id: uuid.UUID,
    owner_id: str,
    kind: str,
    message: str,
    session_id: uuid.UUID | None = None,
    callback_url: str | None = None,
) -> uuid.UUID:
    task_id = uuid.uuid4()
    w.conn.execute(
        insert(_tasks).values(
            id=task_id,
            agent_id=agent_id,
            owner_id=owner_id,
            kind=kind,
            message=message,
            session_id=session_id,
            callback_url=callback_url,
            status=T.PENDING.value,
            tokens_in=0,
            tokens_out=0,
            attempts=0,
        )
    )
    return task_id


def claim_task(w: Work, task_id: uuid.UUID, owner: str, lease_seconds: float):
    """pending -> running with a lease; the row, or None when it was not pending."""
    _check(T.PENDING, T.RUNNING)
    stmt = (
        update(_tasks)
        .where(_tasks.c.id == task_id, _tasks.c.status == T.PENDING.value)
        .values(
            status=T.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=utcnow_plus(lease_seconds),
            attempts=_tasks.c.attempts + 1,
            started_at=utcnow(),
        )
        .returning(*_tasks.c)
    )
    return w.conn.execute(stmt).first()


def finish_task(
    w: Work,
    task_id: uuid.UUID,
    owner: str,
    status: TaskStatus,
    *,
    reply: str | None = None,
    error: str | None = None,
    tokens: tuple[int, int] = (0, 0),
) -> bool:
    """running -> succeeded | failed, only while `owner` still holds the lease.

    A chat turn's reply joins its session in the same transaction, so a turn that lost
    its lease (and was handed to another worker) never adds a second answer.
    """
    _check(T.RUNNING, status)
    done = w.conn.execute(
        update(_tasks)
        .where(
            _tasks.c.id == task_id,
            _tasks.c.status == T.RUNNING.value,
            _tasks.c.lease_owner == owner,
        )
        .values(
            status=status.value,
            reply=reply,
            error=error,
            tokens_in=tokens[0],
            tokens_out=tokens[1],
            finished_at=utcnow(),
            lease_expires_at=None,
        )
        .returning(_tasks.c.session_id)
    ).first()
    if done is None:
        return False
    if status == T.SUCCEEDED and done.session_id is not None:
        w.conn.execute(
            insert(ChatMessage.__table__).values(
                session_id=done.session_id, role="assistant", content=reply or ""
            )
        )
        w.conn.execute(
            update(ChatSession.__table__)
            .where(ChatSession.__table__.c.id == done.session_id)
            .values(last_active_at=utcnow())
        )
    return True


def fail_unqueued(w: Work, task_id: uuid.UUID, error: str) -> bool:
    """pending -> failed: the turn could not be published, so nothing would run it."""
    _check(T.PENDING, T.FAILED)
    stmt = (
        update(_tasks)
        .where(_tasks.c.id == task_id, _tasks.c.status == T.PENDING.value)
        .values(status=T.FAILED.value, error=error, finished_at=utcnow())
    )
    return w.conn.execute(stmt).rowcount == 1


def renew_task_leases(w: Work, owners: list[str], lease_seconds: float) -> set[uuid.UUID]:
    """Extend every listed holder's lease in one statement; the tasks still held."""
    return renew_held(w, _tasks, T.RUNNING.value, owners, lease_seconds)


def expired_tasks(w: Work, limit: int = 200) -> list[Any]:
    return list(
        w.conn.execute(
            select(_tasks.c.id, _tasks.c.agent_id, _tasks.c.attempts, _tasks.c.lease_owner)
            .where(_tasks.c.status == T.RUNNING.value, _tasks.c.lease_expires_at < utcnow())
            .limit(limit)
        )
    )


def time_out_task(w: Work, task_id: uuid.UUID, retry_budget: int) -> str | None:
    """A running turn whose lease expired: back to pending ("rerun") while its attempts
    stay within 1 + `retry_budget`, else "failed"; None when it is no longer expired."""
    row = w.conn.execute(
        select(_tasks.c.attempts, _tasks.c.lease_owner)
        .where(
            _tasks.c.id == task_id,
            _tasks.c.status == T.RUNNING.value,
            _tasks.c.lease_expires_at < utcnow(),
        )
        .with_for_update()
    ).first()
    if row is None:
        return None
    expired = (
        _tasks.c.id == task_id,
        _tasks.c.status == T.RUNNING.value,
        _tasks.c.lease_owner == row.lease_owner,
    )
    if row.attempts <= retry_budget:
        _check(T.RUNNING, T.PENDING)
        values: dict[str, Any] = {"status": T.PENDING.value, "lease_owner": None}
        outcome = "rerun"
    else:
        _check(T.RUNNING, T.FAILED)
        values = {
            "status": T.FAILED.value,
            "error": f"the worker running this turn stopped ({row.attempts} attempts)",
            "finished_at": utcnow(),
        }
        outcome = "failed"
    moved = w.conn.execute(
        update(_tasks).where(*expired).values(lease_expires_at=None, **values)
    ).rowcount
    return outcome if moved == 1 else None


def set_callback_status(w: Work, task_id: uuid.UUID, outcome: str) -> None:
    w.conn.execute(
        update(_tasks).where(_tasks.c.id == task_id).values(callback_status=outcome[:200])
    )
