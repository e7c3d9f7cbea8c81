"""Queue depth as the broker itself reports it (Kombu's passive queue_declare), on the
transports legato runs on, with messages published the way dispatch publishes them."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from app.broker_depth import broker_app, queue_depths
from app.config import Settings
from tests.conftest import service_missing, wait_until

pytestmark = pytest.mark.integration


def _publish(settings: Settings, queue: str, priorities: list[int | None]) -> None:
    app = broker_app(settings)
    try:
        for n, priority in enumerate(priorities):
            app.send_task("legato.depth_probe", args=[n], queue=queue, priority=priority)
    finally:
        app.close()


def test_redis_counts_every_priority_under_the_key_prefix(redis_url):
    import redis

    prefix = f"legato-depth-{uuid.uuid4().hex[:8]}:"
    queue, other = f"q{uuid.uuid4().hex[:8]}", f"q{uuid.uuid4().hex[:8]}"
    settings = Settings(
        broker_url=redis_url, broker_key_prefix=prefix, tiers=(queue, other, "auto")
    )
    try:
        assert queue_depths([queue, other], settings) == {queue: 0, other: 0}
        _publish(settings, queue, [None, 0, 4, 9, 9])
        assert queue_depths([queue, other, ""], settings) == {queue: 5, other: 0}
        # The messages are where Kombu put them: under our prefix, not the bare name.
        client = redis.Redis.from_url(redis_url)
        assert client.llen(queue) == 0
        assert client.llen(prefix + queue) >= 1
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def unix_socket_redis(tmp_path: Path):
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server binary", FileNotFoundError("redis-server"))
    sock = tmp_path / "redis.sock"
    argv = [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(sock.exists, timeout=20, message="redis-server's unix socket")
        yield f"redis+socket://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_over_a_unix_socket(unix_socket_redis):
    # Any broker URL Kombu understands works: depth is not read from a URL of our own.
    settings = Settings(broker_url=unix_socket_redis)
    _publish(settings, "fast", [None, None, 9])
    assert queue_depths(["fast", "auto"], settings) == {"fast": 3, "auto": 0}


def test_embedded_sqlalchemy_transport(tmp_path):
    # A key prefix or visibility timeout set for Redis must not reach the SQLAlchemy
    # transport (it hands every transport option to create_engine).
    settings = Settings(
        broker_url=None,
        database_url=None,
        legato_data_dir=tmp_path,
        broker_key_prefix="ignored:",
        broker_visibility_timeout=30,
    )
    assert queue_depths(["fast"], settings) == {"fast": 0}
    _publish(settings, "fast", [None, None])
    _publish(settings, "quality", [None])
    assert queue_depths(["fast", "auto", "quality"], settings) == {
        "fast": 2,
        "auto": 0,
        "quality": 1,
    }


def test_an_unreachable_broker_is_an_error_not_an_empty_queue():
    from kombu import Connection

    settings = Settings(broker_url="redis://127.0.0.1:1/0")
    errors = Connection(settings.celery_broker_url).connection_errors
    with pytest.raises(errors):
        queue_depths(["fast"], settings)
