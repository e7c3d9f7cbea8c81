"""Scale-to-zero and scale-from-zero against a real swarm: the policy driven by the
backend's service list and a real Redis list length (what Kombu's Redis transport
and KEDA's redis scaler both read), the way the beat task will use them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from swarm import ScalingDecision, ServiceNotFound, SwarmBackend, agent_queue, decide
from tests.conftest import service_missing

from .helpers import RUN_PREFIX, sleeper_agent, sleeper_worker

pytestmark = pytest.mark.swarm


@pytest.fixture
def redis_client():
    import redis

    url = os.environ.get("LEGATO_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url}", exc)
    keys: list[str] = []
    client.test_keys = keys  # type: ignore[attr-defined]
    yield client
    if keys:
        client.delete(*keys)
    client.close()


def scaler_pass(
    backend: SwarmBackend,
    depth: Callable[[str], int],
    idle_minutes: float,
    now: datetime | None = None,
):
    """One pass of the idle scaler over this test run's services."""
    mine = [s for s in backend.services() if s.name.startswith(RUN_PREFIX)]
    loads = [s.to_load(queue_depth=depth(s.queue or ""), running=0) for s in mine]
    return backend.apply(decide(loads, now or datetime.now(UTC), idle_minutes))


def test_idle_worker_goes_to_zero_and_returns_when_work_is_queued(
    backend, deploy, unique_name, redis_client
):
    queue = f"{RUN_PREFIX}-q-{uuid.uuid4().hex[:6]}"
    redis_client.test_keys.append(queue)
    name = unique_name("idle")
    deploy(sleeper_worker(name, tier="fast", queue=queue, max_replicas=2))
    backend.wait_for_running(name, 1)

    def depth(q: str) -> int:
        return int(redis_client.llen(q))

    idle_minutes = 0.03  # 1.8 s: the threshold, shortened
    # The service's own clock, not the machine's: on a busy machine the deploy alone can
    # take longer than the threshold.
    deployed = backend.get(name).last_activity
    assert deployed is not None
    assert scaler_pass(backend, depth, idle_minutes, now=deployed) == []  # just deployed

    idle = deployed + timedelta(minutes=idle_minutes, seconds=1)
    [result] = scaler_pass(backend, depth, idle_minutes, now=idle)
    assert result.ok and result.previous_replicas == 1
    assert result.decision.service == name and result.decision.target == 0
    assert "idle for" in result.decision.reason
    assert backend.wait_for_running(name, 0).desired_replicas == 0
    assert scaler_pass(backend, depth, idle_minutes) == []  # nothing more to do

    # Work arrives: three messages on the queue the service consumes.
    redis_client.rpush(queue, "m1", "m2", "m3")
    [result] = scaler_pass(backend, depth, idle_minutes)
    assert result.ok and result.decision.target == 2  # capped by legato.max_replicas
    assert "3 message(s) queued" in result.decision.reason
    assert backend.wait_for_running(name, 2).running_replicas == 2

    # Busy (messages still queued): never scaled down, however old the activity.
    later = datetime.now(UTC) + timedelta(days=1)
    assert scaler_pass(backend, depth, idle_minutes, now=later) == []
    redis_client.delete(queue)
    [result] = scaler_pass(backend, depth, idle_minutes, now=later)
    assert result.decision.target == 0


def test_clock_shift_instead_of_waiting(backend, deploy, unique_name):
    name = unique_name("clock")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-clock"))
    backend.wait_for_running(name, 1)
    no_work = lambda q: 0  # noqa: E731
    assert scaler_pass(backend, no_work, 15) == []
    in_16_min = datetime.now(UTC) + timedelta(minutes=16)
    [result] = scaler_pass(backend, no_work, 15, now=in_16_min)
    assert result.ok and result.decision.target == 0
    assert backend.wait_for_running(name, 0).running_replicas == 0


def test_last_activity_label_keeps_a_service_up(backend, deploy, unique_name):
    name = unique_name("label")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-label"))
    in_16_min = datetime.now(UTC) + timedelta(minutes=16)
    backend.mark_activity(name, in_16_min - timedelta(minutes=1))
    assert scaler_pass(backend, lambda q: 0, 15, now=in_16_min) == []


def test_database_activity_overrides_an_older_service_time(backend, deploy, unique_name):
    name = unique_name("db")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-db", replicas=0))
    info = backend.get(name)
    newer = datetime.now(UTC) + timedelta(hours=1)
    assert info.to_load(queue_depth=0, running=1, last_activity=newer).last_activity == newer
    older = datetime(2000, 1, 1, tzinfo=UTC)
    assert info.to_load(queue_depth=0, running=0, last_activity=older).last_activity == (
        info.last_activity
    )


def test_wake_queue_scales_up_at_once(backend, deploy, unique_name):
    agent = f"{RUN_PREFIX}-wake"
    name = unique_name("wake")
    other = unique_name("other")
    deploy(sleeper_agent(name, agent=agent, replicas=0, max_replicas=3))
    deploy(sleeper_agent(other, agent=f"{RUN_PREFIX}-other", replicas=0))

    [result] = backend.wake_queue(agent_queue(agent, owner="swarm-tests"), queued=2)
    assert result.ok
    assert (result.decision.service, result.decision.target) == (name, 2)
    assert backend.wait_for_running(name, 2).running_replicas == 2
    assert backend.get(other).desired_replicas == 0  # another queue: untouched

    assert backend.wake_queue(agent_queue(agent, owner="swarm-tests")) == []  # already up
    assert backend.wake_queue(agent_queue(f"{RUN_PREFIX}-nobody", owner="swarm-tests")) == []


def test_apply_reports_failures_and_goes_on(backend, deploy, unique_name):
    name = unique_name("apply")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-apply", replicas=0))
    results = backend.apply(
        [
            ScalingDecision(f"{RUN_PREFIX}-gone", 0, "idle"),
            ScalingDecision(name, 1, "queued"),
        ]
    )
    assert [r.ok for r in results] == [False, True]
    assert isinstance(results[0].error, ServiceNotFound)
    assert results[1].previous_replicas == 0
    assert backend.get(name).desired_replicas == 1
