"""The scaler end to end: a real maintenance worker running beat, the real swarm,
PostgreSQL and Redis.

Each test gets its own broker key prefix, its own tier (queue) and services named
with this run's prefix (SWARM_SERVICE_PREFIX), so the scaler it starts never touches
another test's or another session's services, and no other worker takes its tasks.
"""

from __future__ import annotations

import uuid

import pytest

from app import create_app
from app.broker_depth import queue_depths
from app.config import Settings, reset_settings
from app.contract import producer, reset_producer
from app.scale_hint import read_zero_hint, reset_zero_cache
from tests.conftest import TEST_TIERS, WorkerProcess

from .helpers import RUN_PREFIX, sleeper_worker, wait_until

pytestmark = [pytest.mark.swarm, pytest.mark.integration]


@pytest.fixture
def scaler_env(stack_env, monkeypatch, tmp_path):
    """Settings for a deployment of its own: fresh key prefix, one extra tier, swarm on.
    Applied to this process too (the API under test publishes with them)."""
    tier = f"z{uuid.uuid4().hex[:8]}"
    env = {
        **stack_env,
        "BROKER_KEY_PREFIX": f"legato-scaler-{uuid.uuid4().hex[:8]}:",
        "TIERS": f"{TEST_TIERS},{tier}",
        "SWARM_ENABLED": "true",
        "SWARM_SERVICE_PREFIX": RUN_PREFIX,
        "LEGATO_DATA_DIR": str(tmp_path),
        # shortened: idle for 3 s means idle; the beat pass runs every second
        "IDLE_SCALE_DOWN_MINUTES": "0.05",
        "IDLE_SCALE_INTERVAL": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    reset_producer()
    reset_zero_cache()
    env["_TIER"] = tier
    yield env
    monkeypatch.undo()
    reset_settings()
    reset_producer()
    reset_zero_cache()


def _events(api, service: str) -> list[dict]:
    resp = api.get("/api/swarm/events", query_string={"service": service})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def test_idle_service_goes_to_zero_and_an_enqueue_wakes_it(
    scaler_env, backend, deploy, unique_name, tmp_path
):
    tier = scaler_env["_TIER"]
    name = unique_name("tier")
    deploy(sleeper_worker(name, tier=tier, max_replicas=2))
    settings = Settings()
    api = create_app(settings).test_client()
    worker_env = {k: v for k, v in scaler_env.items() if not k.startswith("_")}

    # 1. The real beat + maintenance worker: the service idles past the threshold.
    scaler = WorkerProcess(
        worker_env,
        tmp_path / "scaler.log",
        queues="maintenance",
        concurrency=2,
        extra=("--beat",),
    ).start()
    try:
        wait_until(
            lambda: backend.get(name).desired_replicas == 0,
            timeout=90,
            what=f"{name} to be scaled to 0 by the beat",
        )
        wait_until(lambda: tier in read_zero_hint(settings), timeout=30, what="the zero hint")
    finally:
        scaler.stop()
    [down] = _events(api, name)
    assert (down["action"], down["trigger"]) == ("scale_down", "idle")
    assert (down["from_replicas"], down["to_replicas"], down["ok"]) == (1, 0, True)
    assert "idle for" in down["reason"] and "nothing queued or running" in down["reason"]

    # 2. No beat now: only the wake sent on enqueue can bring the service back.
    waker = WorkerProcess(
        worker_env, tmp_path / "waker.log", queues="maintenance", concurrency=2
    ).start()
    try:
        reset_zero_cache()
        resp = api.post("/api/jobs", json={"instruction": "wake up", "tier": tier})
        assert resp.status_code == 201, resp.get_json()
        wait_until(
            lambda: backend.get(name).desired_replicas >= 1,
            timeout=60,
            what=f"{name} to be scaled up on enqueue",
        )
    finally:
        waker.stop()
    up = _events(api, name)[0]
    assert (up["action"], up["trigger"], up["from_replicas"], up["to_replicas"]) == (
        "scale_up",
        "enqueue",
        0,
        1,
    )
    assert "1 message(s) queued" in up["reason"]
    assert tier not in read_zero_hint(settings)
    assert queue_depths([tier], settings) == {tier: 1}  # the job's movement is still queued


def test_queue_depth_reads_the_prefixed_redis_lists(scaler_env):
    settings = Settings()
    tier = scaler_env["_TIER"]
    assert queue_depths([tier, "fast"], settings) == {tier: 0, "fast": 0}
    for priority in (None, 5, 9):
        producer().send_task("legato.depth_probe", args=[1], queue=tier, priority=priority)
    assert queue_depths([tier], settings) == {tier: 3}


def test_queue_depth_on_the_embedded_sqlalchemy_broker(tmp_path):
    from kombu import Connection

    settings = Settings(broker_url=None, database_url=None, legato_data_dir=tmp_path)
    assert queue_depths(["fast"], settings) == {"fast": 0}  # no kombu tables yet
    with Connection(settings.celery_broker_url) as conn:
        queue = conn.SimpleQueue("fast")
        queue.put({"n": 1})
        queue.put({"n": 2})
        queue.close()
    assert queue_depths(["fast", "auto"], settings) == {"fast": 2, "auto": 0}


def test_beat_without_a_reachable_docker_does_nothing_and_keeps_going(scaler_env, tmp_path):
    """Like a deployment whose socket is missing: each pass logs why and skips."""
    env = {k: v for k, v in scaler_env.items() if not k.startswith("_")}
    env["DOCKER_HOST"] = f"unix:///tmp/{RUN_PREFIX}-no-docker.sock"
    scaler = WorkerProcess(
        env, tmp_path / "nodocker.log", queues="maintenance", concurrency=2, extra=("--beat",)
    ).start()
    try:
        wait_until(
            lambda: scaler.tail(400).count("idle scale-down skipped: Docker is unreachable") >= 2,
            timeout=60,
            what="two skipped passes in the log",
        )
        assert scaler.process.poll() is None
    finally:
        scaler.stop()
    log = scaler.tail(400)
    assert "Traceback" not in log and "raised unexpected" not in log


def test_database_work_keeps_a_service_up_and_brings_it_back(
    scaler_env, backend, deploy, unique_name
):
    """PostgreSQL is the source of truth: a pending movement whose broker message was
    lost still counts as queued work, for scale-down and for scale-up."""
    import redis

    from app.scaling import idle_pass

    tier = scaler_env["_TIER"]
    name = unique_name("db")
    deploy(sleeper_worker(name, tier=tier, max_replicas=3))
    settings = Settings(idle_scale_down_minutes=0)  # anything not busy is idle
    flask_app = create_app(settings)
    api = flask_app.test_client()
    broker = redis.Redis.from_url(settings.celery_broker_url)
    queue_key = settings.broker_key_prefix + tier

    job = api.post("/api/jobs", json={"instruction": "db work", "tier": tier}).get_json()
    assert broker.delete(queue_key) == 1  # the message is lost; the pending run remains
    with flask_app.app_context():
        assert idle_pass(settings).events == []  # pending work: not idle
    assert backend.get(name).desired_replicas == 1

    assert api.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    with flask_app.app_context():
        [down] = idle_pass(settings).events
    assert (down["service"], down["to_replicas"], down["trigger"]) == (name, 0, "idle")
    assert tier in read_zero_hint(settings)

    # At 0, two pending runs without messages: the pass scales up, one replica each.
    for _ in range(2):
        assert api.post("/api/jobs", json={"instruction": "more", "tier": tier}).status_code == 201
    broker.delete(queue_key)
    with flask_app.app_context():
        [up] = idle_pass(settings).events
    assert (up["from_replicas"], up["to_replicas"]) == (0, 2)
    assert "2 message(s) queued" in up["reason"]
    assert backend.get(name).desired_replicas == 2
    assert tier not in read_zero_hint(settings)
