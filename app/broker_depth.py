"""How many messages wait on a queue, asked of the broker through Kombu.

``queue_declare`` answers with the queue's message count on every transport Kombu has
(Redis with its priority lists and key prefix, the SQLAlchemy transport of the embedded
mode, AMQP), so nothing here knows how a transport stores its messages.

The declare is not passive: Kombu 5.7's Redis transport checks a passive declare with
an EXISTS that its key-prefixing client does not prefix, so under BROKER_KEY_PREFIX
every queue would look missing (tests/integration/test_broker_depth.py). Declaring the
queue as a worker does (durable, not auto-deleted) is idempotent on every transport:
on Redis it writes nothing, on the SQLAlchemy transport it is the row `_size` makes
anyway, on AMQP it is the declaration the consumers make.
The connection comes from a Celery app configured exactly like the producer's, so the
broker URL and transport options (key prefix, visibility timeout) are the ones used to
publish.
"""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery

from app.config import Settings
from app.contract import celery_config


def broker_app(settings: Settings) -> Celery:
    """A task-less Celery app on ``settings``'s broker (cheap: it connects on use)."""
    app = Celery("legato-broker-depth", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


def queue_depths(queues: Iterable[str], settings: Settings) -> dict[str, int]:
    """Messages waiting in each queue (reserved but unacknowledged ones excluded).

    Raises the transport's error when the broker is unreachable or refuses the declare:
    "0 messages" would be a lie the scaler acts on.
    """
    names = sorted({q for q in queues if q})
    if not names:
        return {}
    app = broker_app(settings)
    try:
        with app.connection_for_read() as conn:
            channel = conn.channel()
            try:
                return {name: _depth(channel, name) for name in names}
            finally:
                channel.close()
    finally:
        app.close()


def _depth(channel, queue: str) -> int:
    ok = channel.queue_declare(queue=queue, durable=True, auto_delete=False)
    return int(ok.message_count)
