"""A plain Redis client on the broker's Redis, for the few keys of our own kept there
(the scaled-to-zero hint, open event-stream slots), always under BROKER_KEY_PREFIX."""

from __future__ import annotations

import threading
from typing import Any

from app.config import Settings

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def redis_broker(settings: Settings) -> bool:
    return settings.celery_broker_url.startswith(("redis://", "rediss://", "unix://"))


def broker_redis(settings: Settings):
    """This process's client for the broker URL (only call when ``redis_broker``)."""
    import redis

    url = settings.celery_broker_url
    with _lock:
        client = _clients.get(url)
        if client is None:
            # Short timeouts: callers are on request and enqueue paths that must not hang.
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            _clients[url] = client
        return client


def broker_key(settings: Settings, key: str) -> str:
    return (settings.broker_key_prefix or "") + key
