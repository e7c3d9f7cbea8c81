"""ServiceSpec, names and errors: pure checks, no Docker needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from docker.types import ServiceMode

from swarm import (
    DockerUnavailable,
    HealthcheckSpec,
    InvalidServiceSpec,
    NotASwarmManager,
    ServiceConflict,
    ServiceNotFound,
    ServiceSpec,
    agent_key,
    agent_queue,
    agent_service_name,
    worker_service_name,
)
from swarm.backend import _cpu_percent, _memory, _parse_time

IMAGE = "legato:latest"


def test_agent_spec_defaults():
    spec = ServiceSpec.for_agent("Code Reviewer", IMAGE, owner="alice", tier="quality")
    key = agent_key("Code Reviewer", owner="alice")
    queue = f"agent.Code Reviewer.{key}"
    assert spec.name == f"legato-agent-code-reviewer-{key}"
    assert spec.effective_queue == queue == agent_queue("Code Reviewer", owner="alice")
    assert spec.default_command() == ["legato", "worker", "--tier", queue]
    kwargs = spec.to_create_kwargs()
    env = dict(e.split("=", 1) for e in kwargs["env"])
    assert env == {
        "AGENT_ID": "Code Reviewer",
        "TIER": "quality",
        "LEGATO_QUEUE": queue,
        "LEGATO_ROLE": "worker",
    }
    assert kwargs["labels"] == kwargs["container_labels"]
    assert kwargs["labels"] == {
        "legato.managed": "true",
        "legato.kind": "agent",
        "legato.agent": "Code Reviewer",
        "legato.tier": "quality",
        "legato.queue": queue,
        "legato.max_replicas": "1",
    }
    assert kwargs["mode"] == ServiceMode("replicated", replicas=1)
    assert kwargs["restart_policy"]["Condition"] == "any"
    assert "resources" not in kwargs and "healthcheck" not in kwargs


def test_worker_spec_defaults():
    spec = ServiceSpec.for_tier("fast", IMAGE)
    assert spec.name == "legato-worker-fast" == worker_service_name("fast")
    assert spec.effective_queue == "fast"
    assert spec.default_command() == ["legato", "worker", "--tier", "fast"]
    env = dict(e.split("=", 1) for e in spec.to_create_kwargs()["env"])
    assert env["TIER"] == "fast" and "AGENT_ID" not in env


def test_resources_healthcheck_and_user_env():
    spec = ServiceSpec.for_tier(
        "auto",
        IMAGE,
        cpu_limit=1.5,
        memory_limit=256 * 2**20,
        cpu_reservation=0.1,
        env={"LLM_MODEL": "m", "TIER": "override"},
        healthcheck=HealthcheckSpec(["CMD-SHELL", "true"], interval_s=1.5, retries=2),
        constraints=["node.role == worker"],
        networks=["legato_legato"],
        command=["legato", "worker", "--tier", "auto", "--concurrency", "4"],
    )
    kw = spec.to_create_kwargs()
    assert kw["resources"] == {
        "Limits": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 256 * 2**20},
        "Reservations": {"NanoCPUs": 100_000_000},
    }
    assert kw["healthcheck"]["Interval"] == 1_500_000_000
    assert kw["healthcheck"]["Retries"] == 2
    assert kw["constraints"] == ["node.role == worker"]
    assert kw["networks"] == ["legato_legato"]
    assert kw["command"][-1] == "4"
    env = dict(e.split("=", 1) for e in kw["env"])
    assert env["TIER"] == "override" and env["LLM_MODEL"] == "m"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"name": "-bad"}, "name"),
        ({"name": "bad-"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "a.b"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"image": ""}, "image"),
        ({"image": "a b"}, "image"),
        ({"replicas": -1}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"replicas": 1.5}, "replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"labels": {"legato.managed": "false"}}, "labels"),
        ({"env": {"A=B": "1"}}, "env"),
        ({"env": {"A": 1}}, "env"),
        ({"command": "legato worker"}, "command"),
        ({"networks": "net"}, "networks"),
        ({"memory_limit": 0}, "memory_limit"),
        ({"cpu_limit": -1.0}, "cpu_limit"),
        ({"restart_condition": "always"}, "restart_condition"),
    ],
)
def test_invalid_specs_are_rejected_before_docker(changes, field):
    base = dict(name="legato-worker-fast", image=IMAGE, kind="worker", tier="fast")
    base.update(changes)
    with pytest.raises(InvalidServiceSpec) as err:
        ServiceSpec(**base)
    assert err.value.field == field
    assert err.value.http_status == 422
    assert isinstance(err.value, ValueError)


def test_kind_requirements():
    with pytest.raises(InvalidServiceSpec):
        ServiceSpec(name="a", image=IMAGE, kind="agent")
    with pytest.raises(InvalidServiceSpec):
        ServiceSpec(name="a", image=IMAGE, kind="worker")
    with pytest.raises(InvalidServiceSpec):
        ServiceSpec(name="a", image=IMAGE, kind="job", tier="x")  # type: ignore[arg-type]


def test_names_are_slugged_and_bounded():
    key = agent_key("  Ünïcode / Agent__01 ", owner="o")
    assert agent_service_name("  Ünïcode / Agent__01 ", owner="o") == (
        f"legato-agent-n-code-agent-01-{key}"
    )
    assert len(agent_service_name("a" * 200, owner="o")) == 63
    assert "--" not in agent_service_name("a-" * 100, owner="o")
    assert len(agent_queue("a" * 63, owner="o")) == 64  # fits a run's tier column
    with pytest.raises(InvalidServiceSpec):
        agent_service_name("!!!", owner="o")
    with pytest.raises(InvalidServiceSpec):
        worker_service_name("")


def test_error_payloads():
    assert ServiceNotFound("x").to_dict() == {
        "code": "service_not_found",
        "message": "No swarm service named 'x'.",
        "details": {"service": "x"},
    }
    assert ServiceConflict("x").http_status == 409
    err = DockerUnavailable.for_endpoint("tcp://admin:pw@10.0.0.1:2375", "refused pw")
    assert err.http_status == 503
    assert "pw@" not in err.message and "admin" not in err.message
    assert "docker.sock" in err.message
    default = DockerUnavailable.for_endpoint(None)
    assert "unix:///var/run/docker.sock" in default.message
    assert "docker swarm init" in NotASwarmManager.default("inactive").message
    assert "promote" in NotASwarmManager.default("pending").message


def test_docker_timestamps():
    assert _parse_time("2026-11-22T04:41:46.317680866Z") == datetime(
        2026, 11, 22, 4, 41, 46, 317680, tzinfo=UTC
    )
    assert _parse_time("2026-11-22T04:41:46Z") == datetime(2026, 11, 22, 4, 41, 46, tzinfo=UTC)
    assert _parse_time("2026-11-22T06:41:46.5+02:00") == datetime(
        2026, 11, 22, 4, 41, 46, 500000, tzinfo=UTC
    )
    assert _parse_time("0001-01-01T00:00:00Z") is None
    assert _parse_time(None) is None
    assert _parse_time("garbage") is None


def test_cpu_and_memory_formulas():
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000_000},
            "system_cpu_usage": 20_000_000_000,
            "online_cpus": 2,
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 2_000_000_000},
            "system_cpu_usage": 18_000_000_000,
        },
        "memory_stats": {"usage": 100, "limit": 1000, "stats": {"total_inactive_file": 30}},
    }
    # 1e9 of 2e9 system time on 2 CPUs = one full core = 100 %.
    assert _cpu_percent(stats) == pytest.approx(100.0)
    assert _memory(stats) == (70, 1000)
    assert _cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) == 0.0
    v2 = {"memory_stats": {"usage": 100, "limit": 0, "stats": {"inactive_file": 10}}}
    assert _memory(v2) == (90, 0)


def test_two_owners_agents_of_one_name_never_share_a_queue_or_a_service():
    alice = ServiceSpec.for_agent("reviewer", IMAGE, owner="alice")
    bob = ServiceSpec.for_agent("reviewer", IMAGE, owner="bob")
    assert alice.effective_queue != bob.effective_queue
    assert alice.name != bob.name
    assert alice.effective_queue.startswith("agent.reviewer.")
    assert alice.name.startswith("legato-agent-reviewer-")
    # Names that slug alike (one owner's a_b and a-b) keep separate services too.
    assert agent_service_name("a_b", owner="o") != agent_service_name("a-b", owner="o")
    # Stable: the same owner and name always give the same queue.
    assert agent_queue("reviewer", owner="alice") == alice.effective_queue
    with pytest.raises(InvalidServiceSpec, match="owner"):
        ServiceSpec(name="a", image=IMAGE, kind="agent", agent="reviewer")
