"""Wake on enqueue: the *scaled-to-zero hint* and the enqueue-side check that reads it.

The hint is a Redis set (under BROKER_KEY_PREFIX; our own key, not one of Kombu's) of
the queues whose services are at 0 replicas, rewritten by the scaler
(``app.scaling.refresh_zero_hint``). ``app.contract`` reads it through a per-process
cache and, when it enqueues onto such a queue, sends ``legato.maintenance.wake_queue``
to the maintenance queue, where the process with the Docker socket scales the service
up at once. The hint is only an accelerator: the beat pass scales up any service at 0
with queued work anyway.
"""

from __future__ import annotations

import logging
import threading
import time

from app.broker_redis import broker_key, broker_redis, redis_broker
from app.config import Settings

log = logging.getLogger(__name__)

WAKE_QUEUE_TASK = "legato.maintenance.wake_queue"
ZERO_SET_KEY = "legato:scaled-to-zero"
# How long a process trusts its copy of the scaled-to-zero set. A queue zeroed within
# this window may get one enqueue without an immediate wake; the beat pass catches it.
ZERO_CACHE_SECONDS = 3.0


def _key(settings: Settings) -> str:
    return broker_key(settings, ZERO_SET_KEY)


def write_zero_hint(queues: set[str], settings: Settings) -> None:
    if not redis_broker(settings):
        return
    try:
        with broker_redis(settings).pipeline(transaction=True) as pipe:
            pipe.delete(_key(settings))
            if queues:
                pipe.sadd(_key(settings), *sorted(queues))
            pipe.execute()
    except Exception as exc:  # the hint is an accelerator; the beat pass still scales up
        log.warning("could not write the scaled-to-zero hint: %s", exc)
    _zero_cache.clear()


def read_zero_hint(settings: Settings) -> set[str]:
    """The hint as stored now (uncached); empty without a Redis broker."""
    if not redis_broker(settings):
        return set()
    return {m.decode() for m in broker_redis(settings).smembers(_key(settings))}


class _ZeroCache:
    """This process's copy of the scaled-to-zero set, re-read every few seconds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: frozenset[str] = frozenset()
        self.expires = 0.0

    def get(self, settings: Settings) -> frozenset[str]:
        now = time.monotonic()
        if now < self.expires:
            return self.queues
        with self.lock:
            if now < self.expires:
                return self.queues
            try:
                members = broker_redis(settings).smembers(_key(settings))
                self.queues = frozenset(m.decode() for m in members)
            except Exception as exc:
                log.debug("scaled-to-zero hint unreadable: %s", exc)
                self.queues = frozenset()
            self.expires = time.monotonic() + ZERO_CACHE_SECONDS
            return self.queues

    def drop(self, queue: str) -> None:
        with self.lock:
            self.queues = self.queues - {queue}

    def clear(self) -> None:
        with self.lock:
            self.expires = 0.0


_zero_cache = _ZeroCache()


def reset_zero_cache() -> None:
    """Re-read the scaled-to-zero hint on the next enqueue (tests; settings changes)."""
    _zero_cache.clear()


def note_enqueued(queue: str, settings: Settings, send_task) -> bool:
    """Called by dispatch after publishing onto ``queue``: if that queue's services are
    at 0, ask the scaler to wake them now. Returns True when a wake was sent.

    Costs nothing unless SWARM_ENABLED and a Redis broker; then one SMEMBERS per
    ZERO_CACHE_SECONDS per process. Never raises: enqueueing must not fail on this."""
    try:
        if not settings.swarm_enabled or not redis_broker(settings):
            return False
        if queue not in _zero_cache.get(settings):
            return False
        # Forget it locally so a burst of enqueues sends one wake, not one each.
        _zero_cache.drop(queue)
        send_task(WAKE_QUEUE_TASK, args=[queue])
        return True
    except Exception:
        log.warning("could not request a wake-up for queue %s", queue, exc_info=True)
        return False
