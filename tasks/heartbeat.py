"""Worker heartbeats in the database: who is consuming which queues, and how busy.

Celery's own view of its workers (remote-control broadcasts) does not exist on the
embedded SQLAlchemy broker, and says nothing once a worker is gone. So each worker
process writes one `worker_heartbeats` row when it is ready, refreshes it every
HEARTBEAT_SECONDS from a daemon thread, and deletes it on a clean shutdown; a row
that stops being refreshed shows up as stale on the workers page. Times are the
database's clock (DESIGN.md invariant 5).

For container health checks (`legato health`, app/cli/commands/health.py), a worker
started with LEGATO_HEARTBEAT_FILE set (`legato worker` sets it) also touches that file
from Celery's own timer, so a worker whose event loop hangs fails its check even while
the broker and the database answer.
"""

from __future__ import annotations

import logging
import os
import threading
from importlib import metadata
from pathlib import Path

from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import delete, insert, update

from app.db import db, utcnow, utcnow_plus
from app.models import WorkerHeartbeat

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", "10"))
# Rows of workers that vanished without a clean shutdown are pruned after a day.
PRUNE_AFTER_SECONDS = 86_400

_state: dict = {}


def _version() -> str | None:
    try:
        return metadata.version("legato")
    except metadata.PackageNotFoundError:
        return None


def _in_flight() -> int:
    from celery.worker import state

    return len(state.active_requests)


def _queues(consumer) -> list[str]:
    try:
        return sorted(q.name for q in consumer.task_consumer.queues)
    except AttributeError:
        return sorted(consumer.app.amqp.queues.consume_from or {})


def _beat(flask_app, key: tuple[str, int], first: dict | None = None) -> None:
    with flask_app.app_context(), db.engine.begin() as conn:
        values = {"in_flight": _in_flight(), "last_seen_at": utcnow()}
        if first is not None:
            conn.execute(
                delete(WorkerHeartbeat).where(
                    WorkerHeartbeat.last_seen_at < utcnow_plus(-PRUNE_AFTER_SECONDS)
                )
            )
            conn.execute(
                delete(WorkerHeartbeat).where(
                    WorkerHeartbeat.hostname == key[0], WorkerHeartbeat.pid == key[1]
                )
            )
            conn.execute(
                insert(WorkerHeartbeat).values(
                    hostname=key[0], pid=key[1], started_at=utcnow(), **first, **values
                )
            )
            return
        conn.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.hostname == key[0], WorkerHeartbeat.pid == key[1])
            .values(**values)
        )


def _loop(flask_app, key: tuple[str, int], stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            _beat(flask_app, key)
        except Exception:  # a database blip must not kill the thread; the next beat retries
            log.warning("worker heartbeat failed", exc_info=True)


def _touch(path: str) -> None:
    try:
        Path(path).touch()
    except OSError:
        pass  # a read-only /tmp shows up as a failing health check, not a crash


@worker_ready.connect
def _start_file(sender=None, **_kwargs) -> None:
    path = os.environ.get("LEGATO_HEARTBEAT_FILE")
    if path:
        interval = float(os.environ.get("LEGATO_HEARTBEAT_INTERVAL") or 10)
        _touch(path)
        sender.timer.call_repeatedly(interval, _touch, (path,))


@worker_shutdown.connect
def _stop_file(**_kwargs) -> None:
    path = os.environ.get("LEGATO_HEARTBEAT_FILE")
    if path:
        Path(path).unlink(missing_ok=True)


@worker_ready.connect
def _start(sender=None, **_kwargs) -> None:
    flask_app = getattr(sender.app, "flask_app", None)
    if flask_app is None:
        return
    controller = getattr(sender, "controller", None)
    key = (str(sender.hostname)[:255], os.getpid())
    first = {
        "queues": _queues(sender),
        "concurrency": getattr(controller, "concurrency", None),
        "version": _version(),
    }
    try:
        _beat(flask_app, key, first)
    except Exception:
        log.warning("could not record the worker heartbeat", exc_info=True)
    stop = threading.Event()
    thread = threading.Thread(
        target=_loop, args=(flask_app, key, stop), name="legato-heartbeat", daemon=True
    )
    thread.start()
    _state.update(flask_app=flask_app, key=key, stop=stop)


@worker_shutdown.connect
def _stop(**_kwargs) -> None:
    stop = _state.pop("stop", None)
    if stop is None:
        return
    stop.set()
    flask_app, (hostname, pid) = _state.pop("flask_app"), _state.pop("key")
    try:
        with flask_app.app_context(), db.engine.begin() as conn:
            conn.execute(
                delete(WorkerHeartbeat).where(
                    WorkerHeartbeat.hostname == hostname, WorkerHeartbeat.pid == pid
                )
            )
    except Exception:
        log.warning("could not remove the worker heartbeat", exc_info=True)
