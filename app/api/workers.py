"""/api/workers (admin): Celery workers per queue and each tier endpoint's health.

Inspect is a broadcast with a reply deadline; it runs with a short timeout and any
failure (broker down, no replies) becomes an empty list plus `inspect_error`, never
a 500: this page is what an operator opens when things are broken.
"""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint
from pydantic import BaseModel

from app.api.spec import spec
from app.auth import require_admin
from app.dispatch import producer
from app.endpoints import all_health

bp = Blueprint("workers", __name__, url_prefix="/api/workers")

INSPECT_TIMEOUT = 1.0
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="inspect")


class WorkerOut(BaseModel):
    hostname: str
    queues: list[str]
    concurrency: int | None
    active_tasks: int
    last_heartbeat: datetime | None


class EndpointOut(BaseModel):
    tier: str
    base_url: str | None
    healthy: bool
    models: list[str]
    error: str | None
    checked_at: datetime | None


class WorkersOut(BaseModel):
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
    return WorkersOut(workers=workers, queues=by_queue, endpoints=endpoints, inspect_error=error)
