"""Slots for open event streams: at most STREAMS_PER_OWNER per owner.

Each stream holds a slot from the moment it is accepted until it ends (the job ended,
STREAM_MAX_SECONDS passed, or the client went away). Slots are counted in this process
and, when the broker is Redis, in one sorted set per owner shared by every API process
(member: the stream's id; score: the latest time it can still be open), so the cap
holds for a deployment with several API replicas. An entry left by a process that died
expires by itself: no stream outlives STREAM_MAX_SECONDS. If Redis does not answer, the
count of this process still bounds the owner.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter

from app.broker_redis import broker_key, broker_redis, redis_broker
from app.config import Settings
from app.errors import ApiError

log = logging.getLogger(__name__)

# How long past its lifetime an entry may linger (clock skew between API hosts).
_GRACE_SECONDS = 30

_local: Counter[str] = Counter()
_local_lock = threading.Lock()


class TooManyStreams(ApiError):
    status, code = 429, "too_many_streams"


class StreamSlot:
    """One accepted stream's place in its owner's count; ``release`` is idempotent."""

    def __init__(self, owner: str, settings: Settings) -> None:
        self.owner = owner
        self.id = uuid.uuid4().hex
        self._settings = settings
        self._shared = False
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        with _local_lock:
            _local[self.owner] -= 1
            if _local[self.owner] <= 0:
                del _local[self.owner]
        if self._shared:
            try:
                broker_redis(self._settings).zrem(_key(self._settings, self.owner), self.id)
            except Exception as exc:  # it expires by itself
                log.warning("could not release stream slot %s: %s", self.id, exc)


def open_slot(owner: str, settings: Settings) -> StreamSlot:
    """A slot for one more stream of ``owner``, or :class:`TooManyStreams`."""
    cap = settings.streams_per_owner
    with _local_lock:
        if _local[owner] >= cap:
            raise _too_many(owner, cap)
        _local[owner] += 1
    slot = StreamSlot(owner, settings)
    if redis_broker(settings):
        try:
            admitted = _claim_shared(slot, cap, settings)
        except Exception as exc:
            log.warning("stream slots: Redis unavailable, counting this process only: %s", exc)
        else:
            if not admitted:
                slot.release()
                raise _too_many(owner, cap)
    return slot


def open_count(owner: str) -> int:
    """Streams of ``owner`` open in this process."""
    with _local_lock:
        return _local[owner]


def _claim_shared(slot: StreamSlot, cap: int, settings: Settings) -> bool:
    key = _key(settings, slot.owner)
    lifetime = settings.stream_max_seconds + _GRACE_SECONDS
    now = time.time()
    client = broker_redis(settings)
    with client.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {slot.id: now + lifetime})
        pipe.zcard(key)
        pipe.expire(key, int(lifetime) + 1)
        _, _, count, _ = pipe.execute()
    slot._shared = True
    # Two streams arriving together may both see the other and both be refused: the
    # cap is never exceeded, and the client's retry gets in.
    return int(count) <= cap


def _key(settings: Settings, owner: str) -> str:
    return broker_key(settings, f"legato:streams:{owner}")


def _too_many(owner: str, cap: int) -> TooManyStreams:
    return TooManyStreams(
        f"owner {owner!r} already has {cap} open event streams (STREAMS_PER_OWNER); "
        "close one, or follow without ?follow=1",
        details={"limit": cap},
    )
