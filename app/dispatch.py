"""Enqueueing by task name, so the web process never imports the engine.

Call these only after the transaction that made the work visible has committed
(DESIGN.md invariant 4); the beat reconciler re-sends anything that slips.
"""

from __future__ import annotations

import threading
import uuid

from celery import Celery

from app.celery_config import RUN_MOVEMENT, celery_config
from app.config import get_settings

_lock = threading.Lock()
_producer: Celery | None = None


def producer() -> Celery:
    """A task-less Celery app used only to publish (one per process)."""
    global _producer
    with _lock:
        if _producer is None:
            app = Celery("legato-producer", set_as_current=False)
            app.conf.update(celery_config(get_settings()))
            _producer = app
        return _producer


def reset_producer() -> None:
    global _producer
    with _lock:
        if _producer is not None:
            _producer.close()
        _producer = None


def enqueue_movement(
    run_id: uuid.UUID | str, *, job_id: uuid.UUID | str, movement: str, tier: str
) -> None:
    # job id and movement name ride along only so Flower shows something readable;
    # the database row named by run_id is what the worker trusts.
    producer().send_task(
        RUN_MOVEMENT,
        args=[str(run_id)],
        kwargs={"job_id": str(job_id), "movement": movement, "tier": tier},
        queue=tier,
        routing_key=tier,
    )
    wake_if_scaled_to_zero(tier)


def wake_if_scaled_to_zero(queue: str) -> None:
    # Call after publishing anything onto `queue` (movements, agent turns).
    # Scale-from-zero on enqueue: this process has no Docker socket, so when the queue's
    # services are at 0 (a cached hint the scaler keeps) it asks the maintenance worker
    # to scale them up now. Near-free otherwise, and it never fails the enqueue.
    from app.scale_hint import note_enqueued

    note_enqueued(queue, get_settings(), producer().send_task)
