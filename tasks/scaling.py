"""The scaler's Celery tasks (maintenance queue; they run where the Docker socket is).

* ``legato.maintenance.idle_scale_down`` (beat, every IDLE_SCALE_INTERVAL seconds):
  one pass of the scale-to-zero policy over legato's services.
* ``legato.maintenance.wake_queue`` (sent by dispatch when it enqueues onto a queue
  whose services are at 0): scale them up now instead of at the next beat.

Both are idempotent. With SWARM_ENABLED off (Compose, Kubernetes) or without a
reachable swarm manager they do nothing and say so in the log.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from app.config import get_settings
from app.scale_hint import WAKE_QUEUE_TASK
from app.scaling import IDLE_SCALE_DOWN_TASK, idle_pass, wake
from swarm import DockerUnavailable, NotASwarmManager
from tasks.celery_app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name=IDLE_SCALE_DOWN_TASK, ignore_result=True)
def idle_scale_down() -> dict[str, Any]:
    settings = get_settings()
    if not settings.swarm_enabled:
        return {"skipped": "SWARM_ENABLED is off"}
    try:
        result = idle_pass(settings)
    except (DockerUnavailable, NotASwarmManager) as exc:
        # Not a failure of the task: this deployment has no swarm to drive right now.
        log.warning("idle scale-down skipped: %s", exc.message)
        return {"skipped": exc.code}
    for event in result.events:
        log.info(
            "scaled %s %s->%s: %s",
            event["service"],
            event["from_replicas"],
            event["to_replicas"],
            event["reason"],
        )
    return asdict(result)


@celery_app.task(name=WAKE_QUEUE_TASK, ignore_result=True)
def wake_queue(queue: str) -> dict[str, Any]:
    settings = get_settings()
    if not settings.swarm_enabled:
        return {"skipped": "SWARM_ENABLED is off"}
    if not isinstance(queue, str) or not queue:
        log.error("wake_queue got a malformed queue name %r; dropping", queue)
        return {"skipped": "invalid"}
    try:
        events = wake(queue, settings)
    except (DockerUnavailable, NotASwarmManager) as exc:
        log.warning("wake of queue %s skipped: %s", queue, exc.message)
        return {"skipped": exc.code}
    for event in events:
        log.info("woke %s for queue %s: %s", event["service"], queue, event["reason"])
    return {"queue": queue, "events": events}
