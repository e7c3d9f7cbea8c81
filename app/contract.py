"""The task contract: every task's name, the queue it runs on, the beat schedule, Celery's
configuration, and `send`.

The API, the workers and beat all read this one module, so a name or a queue rule is
spelled once. The web process publishes by name through `send` and never imports the
engine (DESIGN.md "Layout"). Call `send` only after the transaction that made the work
visible has committed (DESIGN.md invariant 4); the beat reconciler re-sends what slips.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from app.config import MAINTENANCE_QUEUE, Settings, get_settings

# -- names ------------------------------------------------------------------------
RUN_MOVEMENT = "legato.run_movement"  # one visit of one movement run, on its tier queue
AGENT_TURN = "legato.agent_turn"  # an agent chat turn or agent task, on the agent's queue

MAINTENANCE_PREFIX = "legato.maintenance."
RECOVER_STUCK = MAINTENANCE_PREFIX + "recover_stuck"
DISPATCH_RETRIES = MAINTENANCE_PREFIX + "dispatch_retries"
RECONCILE = MAINTENANCE_PREFIX + "reconcile"
ENQUEUE_REFLECTIONS = MAINTENANCE_PREFIX + "enqueue_reflections"
PROBE_LLM_ENDPOINTS = MAINTENANCE_PREFIX + "probe_llm_endpoints"
EXPIRE_SESSIONS = MAINTENANCE_PREFIX + "expire_sessions"
IDLE_SCALE_DOWN = MAINTENANCE_PREFIX + "idle_scale_down"
WAKE_QUEUE = MAINTENANCE_PREFIX + "wake_queue"
REFLECT_JOB = MAINTENANCE_PREFIX + "reflect_job"
DELIVER_CALLBACK = MAINTENANCE_PREFIX + "deliver_callback"

# The modules that define the tasks above (workers import them all).
TASK_MODULES = (
    "tasks.movement",
    "tasks.chat",
    "tasks.maintenance",
    "tasks.scaling",
)

# Periodic sweeps: entry -> (task, interval setting). A sweep that waited in the queue
# longer than max(interval, 30 s) is dropped: the next one is due anyway.
SWEEPS = {
    "recover-stuck": (RECOVER_STUCK, "beat_recover_stuck_seconds"),
    "dispatch-retries": (DISPATCH_RETRIES, "beat_dispatch_retries_seconds"),
    "reconcile": (RECONCILE, "beat_reconcile_seconds"),
    "enqueue-reflections": (ENQUEUE_REFLECTIONS, "beat_reflections_seconds"),
    "probe-llm-endpoints": (PROBE_LLM_ENDPOINTS, "beat_probe_seconds"),
}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every periodic task, on the maintenance queue; each is idempotent and safe twice."""
    schedule = {}
    for entry, (task, interval_setting) in SWEEPS.items():
        interval = getattr(settings, interval_setting)
        schedule[entry] = {
            "task": task,
            "schedule": interval,
            "options": {"expires": max(interval, 30.0)},
        }
    schedule["expire-sessions"] = {
        "task": EXPIRE_SESSIONS,
        "schedule": 300.0,
        "options": {"expires": 300.0},
    }
    schedule["idle-scale-down"] = {
        "task": IDLE_SCALE_DOWN,
        "schedule": settings.idle_scale_interval,
        "options": {"expires": settings.idle_scale_interval},
    }
    return schedule


# -- queues -----------------------------------------------------------------------


def queue_for(task: str, queue: str | None = None) -> str:
    """The queue rule: maintenance tasks on `maintenance`, everything else where it is told."""
    if task.startswith(MAINTENANCE_PREFIX):
        return MAINTENANCE_QUEUE
    if queue is None:
        raise ValueError(f"{task} needs a queue (a tier or an agent queue)")
    return queue


# -- Celery's configuration ------------------------------------------------------
# The producer (API, beat) and the workers must agree on queues, serializer and broker
# transport options; one pure function is how they stay in step.


def celery_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    exchange = Exchange("legato", type="direct")
    queues = [Queue(name, exchange, routing_key=name) for name in settings.queues]
    transport_options: dict[str, Any] = {}
    # Redis options only: Kombu's SQLAlchemy transport hands every transport option to
    # create_engine (so the embedded broker also keeps its default 1 s polling interval).
    if not settings.celery_broker_url.startswith("sqla+"):
        if settings.broker_key_prefix:
            transport_options["global_keyprefix"] = settings.broker_key_prefix
        if settings.broker_visibility_timeout:
            transport_options["visibility_timeout"] = settings.broker_visibility_timeout
    config: dict[str, Any] = {
        "broker_url": settings.celery_broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "task_queues": queues,
        "task_default_queue": settings.default_tier,
        "task_default_exchange": "legato",
        "task_default_routing_key": settings.default_tier,
        "task_routes": {MAINTENANCE_PREFIX + "*": {"queue": MAINTENANCE_QUEUE}},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # No result backend: the database holds every outcome (DESIGN.md invariant 1).
        "task_ignore_result": True,
        "result_backend": None,
        # At-least-once delivery; the compare-and-set claim makes it effectively-once.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        # Flower needs worker task events to show live task state; they cost every task
        # a publish, so they are on only when asked (WORKER_TASK_EVENTS, set where Flower
        # runs). Flower also turns them on in running workers (its enable_events
        # broadcast, every 5 s). The "sent" event stays off: Flower does not need it.
        "worker_send_task_events": settings.worker_task_events,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
    }
    config.update(overrides)
    return config


# -- publishing -------------------------------------------------------------------

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


def send(
    task: str,
    *args: Any,
    queue: str | None = None,
    countdown: float | None = None,
    **kwargs: Any,
) -> None:
    """Publish `task` by name, then wake the queue's services if they are scaled to zero."""
    target = queue_for(task, queue)
    producer().send_task(
        task,
        args=list(args),
        kwargs=kwargs or None,
        queue=target,
        routing_key=target,
        countdown=countdown,
    )
    if target != MAINTENANCE_QUEUE:
        wake_if_scaled_to_zero(target)


def send_run(
    run_id: uuid.UUID | str,
    *,
    job_id: uuid.UUID | str,
    movement: str,
    queue: str,
    countdown: float | None = None,
) -> None:
    # job id and movement name ride along only so Flower shows something readable; the
    # database row named by run_id is what the worker trusts.
    send(
        RUN_MOVEMENT,
        str(run_id),
        queue=queue,
        countdown=countdown,
        job_id=str(job_id),
        movement=movement,
        tier=queue,
    )


def wake_if_scaled_to_zero(queue: str) -> None:
    # Scale-from-zero on enqueue: this process has no Docker socket, so when the queue's
    # services are at 0 (a cached hint the scaler keeps) it asks the maintenance worker
    # to scale them up now. Near-free otherwise, and it never fails the enqueue.
    from app.scale_hint import note_enqueued

    note_enqueued(queue, get_settings(), producer().send_task)
