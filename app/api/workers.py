"""/api/workers (admin): workers from their database heartbeats, what Celery's inspect
broadcast sees, and each tier endpoint's health.

Heartbeats (tasks/heartbeat.py) work on every broker, including the embedded one,
and say when a worker was last seen. Inspect is a broadcast with a reply deadline; it
runs with a short timeout and any failure (broker down, no replies) becomes an empty
list plus `inspect_error`, never a 500: this page is what an operator opens when things are broken.
"""

from __future__ import annotations

import concurrent.futures
import os
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint
from pydantic import BaseModel
from sqlalchemy import select

from app.api.spec import spec
from app.auth import require_admin
from app.contract import producer
from app.db import db, utcnow
from app.endpoints import all_health
from app.models import WorkerHeartbeat

bp = Blueprint("workers", __name__, url_prefix="/api/workers")

INSPECT_TIMEOUT = 1.0
# The interval the workers use (tasks/heartbeat.py reads the same variable); a row not
# refreshed for three intervals is shown as stale.
HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", "10"))
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="inspect")


class WorkerOut(BaseModel):
    hostname: str
    queues: list[str]
    concurrency: int | None
    active_tasks: int
    last_heartbeat: datetime | None


class HeartbeatOut(BaseModel):
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int | None
    in_flight: int
    version: str | None
    started_at: datetime
    last_seen_at: datetime
    seconds_since_seen: float
    stale: bool


class EndpointOut(BaseModel):
    tier: str
    base_url: str | None
    healthy: bool
    models: list[str]
    error: str | None
    checked_at: datetime | None


class WorkersOut(BaseModel):
    heartbeats: list[HeartbeatOut]
    heartbeat_seconds: float
    workers: list[WorkerOut]
    queues: dict[str, list[str]]
    endpoints: list[EndpointOut]
    inspect_error: str | None


def _inspect() -> tuple[list[WorkerOut], str | None]:
    # The three broadcasts run side by side, so the whole call takes one reply window.
    def ask(method: str) -> dict[str, Any]:
        return getattr(producer().control.inspect(timeout=INSPECT_TIMEOUT), method)() or {}

    futures = {m: _pool.submit(ask, m) for m in ("active_queues", "stats", "active")}
    queues, stats, active = (futures[m].result() for m in ("active_queues", "stats", "active"))
    workers = []
    for host in sorted(set(queues) | set(stats)):
        info: dict[str, Any] = stats.get(host) or {}
        pool = info.get("pool") or {}
        clock = info.get("clock")
        workers.append(
            WorkerOut(
                hostname=host,
                queues=sorted(q.get("name", "") for q in queues.get(host) or []),
                concurrency=pool.get("max-concurrency"),
                active_tasks=len(active.get(host) or []),
                # The reply itself is the freshest heartbeat we have (it answered just now).
                last_heartbeat=datetime.now(UTC) if clock is not None or host in queues else None,
            )
        )
    return workers, None


@spec.route(
    bp,
    "",
    "GET",
    summary="Workers per queue and LLM endpoint health",
    responses={200: WorkersOut},
    errors=(403,),
)
def list_workers():
    """`heartbeats` are the worker processes as they report themselves in the database
    (every broker, stale after three missed beats); `workers` is what Celery's inspect
    broadcast sees right now (`inspect_error` when it cannot ask); `endpoints` is each
    tier's LLM endpoint health from the last probe."""
    require_admin()
    error = None
    try:
        workers, error = _pool.submit(_inspect).result(timeout=INSPECT_TIMEOUT + 2)
    except concurrent.futures.TimeoutError:
        workers, error = [], "inspect timed out (broker slow or unreachable)"
    except Exception as exc:  # broker down: say so, keep answering
        workers, error = [], f"inspect failed: {type(exc).__name__}"
    by_queue: dict[str, list[str]] = {}
    for w in workers:
        for q in w.queues:
            by_queue.setdefault(q, []).append(w.hostname)
    endpoints = [EndpointOut.model_validate(e, from_attributes=True) for e in all_health()]
    return WorkersOut(
        heartbeats=_heartbeats(),
        heartbeat_seconds=HEARTBEAT_SECONDS,
        workers=workers,
        queues=by_queue,
        endpoints=endpoints,
        inspect_error=error,
    )


def _heartbeats() -> list[HeartbeatOut]:
    now = db.session.scalar(select(utcnow()))
    rows = db.session.scalars(
        select(WorkerHeartbeat).order_by(WorkerHeartbeat.hostname, WorkerHeartbeat.pid)
    ).all()
    out = []
    for row in rows:
        age = max(0.0, (_aware(now) - _aware(row.last_seen_at)).total_seconds())
        out.append(
            HeartbeatOut(
                hostname=row.hostname,
                pid=row.pid,
                queues=list(row.queues or []),
                concurrency=row.concurrency,
                in_flight=row.in_flight,
                version=row.version,
                started_at=_aware(row.started_at),
                last_seen_at=_aware(row.last_seen_at),
                seconds_since_seen=round(age, 1),
                stale=age > 3 * HEARTBEAT_SECONDS,
            )
        )
    db.session.rollback()
    return out


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back naive UTC (or text for a bare expression); make it aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
