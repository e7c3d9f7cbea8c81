"""Celery settings shared by the producer (API, dispatch) and the workers.

Both sides must agree on queues, serializer and broker transport options; keeping
them in one pure function is how they stay in step.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from app.config import MAINTENANCE_QUEUE, Settings
from app.contract import MAINTENANCE_PREFIX


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
        # Flower needs worker task events to show live task state. The "sent" event is
        # left off: it costs every publish and Flower does not need it.
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
    }
    config.update(overrides)
    return config
