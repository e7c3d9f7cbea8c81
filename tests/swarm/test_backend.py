"""SwarmBackend against a real dockerd in swarm mode (deploy, list, stop, start,
scale, remove, stats, errors)."""

from __future__ import annotations

import os
import socket
import tempfile
from datetime import UTC, datetime, timedelta

import docker
import pytest

from swarm import (
    DockerUnavailable,
    HealthcheckSpec,
    InvalidServiceSpec,
    NotASwarmManager,
    ServiceConflict,
    ServiceNotFound,
    SwarmBackend,
)
from swarm.backend import LABEL_LAST_ACTIVITY

from .helpers import RUN_PREFIX, TEST_IMAGE, closed_port, sleeper_agent, sleeper_worker, wait_until

pytestmark = pytest.mark.swarm

MiB = 1024 * 1024


def _task_ids(client: docker.DockerClient, name: str) -> set[str]:
    svc = client.services.get(name)
    return {t["ID"] for t in svc.tasks(filters={"desired-state": "running"})}


def test_nodes_lists_this_manager(backend: SwarmBackend):
    nodes = backend.nodes()
    assert nodes, "a swarm has at least one node"
    me = [n for n in nodes if n.leader]
    assert len(me) == 1
    node = me[0]
    assert node.role == "manager"
    assert node.state == "ready"
    assert node.availability == "active"
    assert node.manager_addr and node.manager_addr.endswith(":2377")
    assert node.hostname
    assert node.engine_version
    assert set(node.to_dict()) >= {"id", "hostname", "role", "availability", "state", "addr"}


def test_deploy_agent_service_and_list_it(backend, deploy, unique_name, docker_client):
    name = unique_name("agent")
    agent = f"{RUN_PREFIX}-reviewer"
    spec = sleeper_agent(
        name,
        agent=agent,
        tier="quality",
        env={"EXTRA": "1"},
        memory_limit=64 * MiB,
        cpu_limit=0.5,
        memory_reservation=16 * MiB,
        restart_condition="on-failure",
        restart_max_attempts=3,
        max_replicas=4,
        labels={"team": "qa"},
        healthcheck=HealthcheckSpec(["CMD", "true"], interval_s=2, timeout_s=1, retries=2),
    )
    created = deploy(spec)
    queue = spec.effective_queue
    assert queue.startswith(f"agent.{agent}.")
    assert created.name == name
    assert created.kind == "agent"
    assert created.agent == agent
    assert created.tier == "quality"
    assert created.queue == queue
    assert created.desired_replicas == 1
    assert created.max_replicas == 4
    assert created.image == TEST_IMAGE

    running = backend.wait_for_running(name, 1, timeout=60)
    assert running.running_replicas == 1

    listed = {s.name: s for s in backend.services()}
    assert name in listed
    assert listed[name].running_replicas == 1
    assert listed[name].last_activity is not None
    assert listed[name].labels["team"] == "qa"
    assert name in {s.name for s in backend.services(kind="agent")}
    assert name not in {s.name for s in backend.services(kind="worker")}
    assert [s.name for s in backend.services(queue=queue)] == [name]

    # What Docker actually stored.
    attrs = docker_client.services.get(name).attrs["Spec"]
    assert attrs["Labels"]["legato.managed"] == "true"
    assert attrs["Labels"]["legato.kind"] == "agent"
    assert attrs["Labels"]["legato.queue"] == queue
    tmpl = attrs["TaskTemplate"]
    env = dict(e.split("=", 1) for e in tmpl["ContainerSpec"]["Env"])
    assert env["AGENT_ID"] == agent
    assert env["LEGATO_QUEUE"] == queue
    assert env["TIER"] == "quality"
    assert env["EXTRA"] == "1"
    assert tmpl["ContainerSpec"]["Labels"]["legato.managed"] == "true"
    assert tmpl["ContainerSpec"]["Healthcheck"]["Test"] == ["CMD", "true"]
    assert tmpl["ContainerSpec"]["Healthcheck"]["Interval"] == 2_000_000_000
    assert tmpl["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 64 * MiB}
    assert tmpl["Resources"]["Reservations"]["MemoryBytes"] == 16 * MiB
    assert tmpl["RestartPolicy"]["Condition"] == "on-failure"
    assert tmpl["RestartPolicy"]["MaxAttempts"] == 3

    # The running container carries the labels and the memory limit.
    containers = docker_client.containers.list(
        filters={"label": f"com.docker.swarm.service.name={name}"}
    )
    assert len(containers) == 1
    c = containers[0]
    assert c.labels["legato.agent"] == agent
    assert c.attrs["HostConfig"]["Memory"] == 64 * MiB

    # The JSON form carries no environment (secrets live there).
    as_json = listed[name].to_dict()
    assert "env" not in as_json and "EXTRA" not in repr(as_json)
    assert as_json["idle_minutes"] is not None


def test_worker_service_defaults(backend, deploy, unique_name, docker_client):
    name = unique_name("fast")
    created = deploy(sleeper_worker(name, tier="fast", replicas=0))
    assert created.kind == "worker"
    assert created.queue == "fast"
    assert created.tier == "fast"
    assert created.desired_replicas == 0
    spec = docker_client.services.get(name).attrs["Spec"]
    env = dict(e.split("=", 1) for e in spec["TaskTemplate"]["ContainerSpec"]["Env"])
    assert env["TIER"] == "fast"
    assert "AGENT_ID" not in env
    assert name in {s.name for s in backend.services(kind="worker")}


def test_default_command_is_the_legato_worker(deploy, unique_name, docker_client):
    name = unique_name("cmd")
    spec = sleeper_worker(name, tier="auto", replicas=0, command=None)
    deploy(spec)
    cs = docker_client.services.get(name).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert cs["Command"] == ["legato", "worker", "--tier", "auto"]


def test_stop_then_start(backend, deploy, unique_name, docker_client):
    name = unique_name("ss")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-ss"))
    backend.wait_for_running(name, 1)
    before = backend.get(name).updated_at

    stopped = backend.stop(name)
    assert stopped.desired_replicas == 0
    backend.wait_for_running(name, 0)
    wait_until(
        lambda: (
            not docker_client.containers.list(
                filters={"label": f"com.docker.swarm.service.name={name}"}
            )
        ),
        what="the container to go",
    )
    assert backend.get(name).updated_at > before
    # Stopping a stopped service changes nothing and does not fail.
    assert backend.stop(name).desired_replicas == 0

    started = backend.start(name)
    assert started.desired_replicas == 1
    assert backend.wait_for_running(name, 1).running_replicas == 1


def test_start_keeps_a_running_service_as_it_is(backend, deploy, unique_name):
    name = unique_name("keep")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-keep", replicas=2))
    info = backend.start(name)
    assert info.desired_replicas == 2


def test_scale_up_and_down(backend, deploy, unique_name, docker_client):
    name = unique_name("scale")
    deploy(sleeper_worker(name, tier=f"{RUN_PREFIX}-t", replicas=1))
    backend.wait_for_running(name, 1)
    first = _task_ids(docker_client, name)
    assert backend.scale(name, 3).desired_replicas == 3
    assert backend.wait_for_running(name, 3).running_replicas == 3
    # Scaling adds tasks; it does not restart the one that was running.
    assert first <= _task_ids(docker_client, name)
    assert backend.scale(name, 1).desired_replicas == 1
    assert backend.wait_for_running(name, 1).running_replicas == 1
    with pytest.raises(InvalidServiceSpec):
        backend.scale(name, -1)
    assert backend.get(name).desired_replicas == 1


def test_remove(backend, deploy, unique_name, docker_client):
    name = unique_name("rm")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-rm"))
    backend.remove(name)
    with pytest.raises(ServiceNotFound):
        backend.get(name)
    with pytest.raises(docker.errors.NotFound):
        docker_client.services.get(name)
    assert name not in {s.name for s in backend.services()}
    with pytest.raises(ServiceNotFound) as err:
        backend.remove(name)
    assert err.value.http_status == 404


@pytest.mark.parametrize("op", ["get", "stop", "start", "remove", "scale", "mark_activity"])
def test_unknown_service_is_not_found(backend, op):
    name = f"{RUN_PREFIX}-no-such-service"
    call = getattr(backend, op)
    with pytest.raises(ServiceNotFound) as err:
        call(name, 2) if op == "scale" else call(name)
    assert err.value.http_status == 404
    assert err.value.to_dict()["code"] == "service_not_found"
    assert name in err.value.message


def test_name_prefix_does_not_match_another_service(backend, deploy, unique_name):
    name = unique_name("prefix")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-px", replicas=0))
    with pytest.raises(ServiceNotFound):
        backend.get(name[:-2])


def test_create_conflict(backend, deploy, unique_name):
    name = unique_name("dup")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-dup", replicas=0))
    with pytest.raises(ServiceConflict) as err:
        backend.create_service(sleeper_agent(name, agent=f"{RUN_PREFIX}-dup2", replicas=0))
    assert err.value.http_status == 409
    assert name in err.value.message
    # The first service is untouched.
    assert backend.get(name).agent == f"{RUN_PREFIX}-dup"


def test_conflict_with_a_foreign_service_name(backend, unique_name, docker_client):
    name = unique_name("foreign")
    docker_client.services.create(
        TEST_IMAGE, ["sleep", "60"], name=name, mode={"Replicated": {"Replicas": 0}}
    )
    try:
        with pytest.raises(ServiceConflict):
            backend.create_service(sleeper_agent(name, agent=f"{RUN_PREFIX}-f"))
        # A service without legato's labels is invisible to the backend...
        assert name not in {s.name for s in backend.services()}
        with pytest.raises(ServiceNotFound):
            backend.stop(name)
        # ...unless it is asked to manage every service.
        everything = SwarmBackend(docker_client, managed_only=False)
        assert everything.get(name).desired_replicas == 0
    finally:
        docker_client.services.get(name).remove()


def test_unknown_network_is_a_docker_error_not_a_crash(backend, unique_name):
    from swarm import DockerAPIError

    name = unique_name("net")
    with pytest.raises(DockerAPIError) as err:
        backend.create_service(
            sleeper_agent(name, agent=f"{RUN_PREFIX}-net", networks=[f"{RUN_PREFIX}-nonet"])
        )
    assert err.value.http_status == 502
    with pytest.raises(ServiceNotFound):
        backend.get(name)


def test_overlay_network_attachment(backend, deploy, unique_name, docker_client):
    net = docker_client.networks.create(f"{RUN_PREFIX}-ov", driver="overlay", attachable=True)
    name = unique_name("ov")
    try:
        deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-ov", networks=[net.name]))
        backend.wait_for_running(name, 1)
        nets = docker_client.services.get(name).attrs["Spec"]["TaskTemplate"]["Networks"]
        assert [n["Target"] for n in nets] == [net.id]
    finally:
        try:
            backend.remove(name)
        except ServiceNotFound:
            pass
        _remove_network(net)


def _remove_network(net) -> None:
    """Remove a network once the removed service's tasks have let go of it."""

    def gone() -> bool:
        try:
            net.remove()
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError:
            return False  # still has active endpoints
        return True

    wait_until(gone, 60, f"network {net.name} to be removable")


def test_mark_activity_updates_the_label_without_restarting(
    backend, deploy, unique_name, docker_client
):
    name = unique_name("act")
    deploy(sleeper_agent(name, agent=f"{RUN_PREFIX}-act"))
    backend.wait_for_running(name, 1)
    tasks_before = _task_ids(docker_client, name)
    when = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    info = backend.mark_activity(name, when)
    assert info.last_activity == when
    assert info.labels[LABEL_LAST_ACTIVITY] == "2031-05-04T03:02:01+00:00"
    assert info.labels["legato.managed"] == "true"  # other labels kept
    assert info.desired_replicas == 1
    assert backend.wait_for_running(name, 1).running_replicas == 1
    assert _task_ids(docker_client, name) == tasks_before
    assert info.idle_minutes(when + timedelta(minutes=5)) == pytest.approx(5.0)


def test_node_stats_reports_cpu_and_memory(backend, deploy, unique_name):
    name = unique_name("busy")
    deploy(
        sleeper_agent(
            name,
            agent=f"{RUN_PREFIX}-busy",
            command=["sh", "-c", "while :; do :; done"],
            cpu_limit=0.5,
            memory_limit=48 * MiB,
        )
    )
    backend.wait_for_running(name, 1)
    stats = [s for s in backend.node_stats() if s.service == name]
    assert len(stats) == 1
    s = stats[0]
    assert s.memory_limit == 48 * MiB
    assert 0 < s.memory_used < s.memory_limit
    assert 0 < s.memory_percent < 100
    # A busy loop limited to half a core: it ran (how much depends on the machine's
    # load, so no floor beyond zero), and the quota held it well under a whole core.
    assert 0.0 < s.cpu_percent < 80.0, s
    assert s.to_dict()["service"] == name


# --------------------------------------------------------------------- unavailable


def _assert_unavailable(backend: SwarmBackend, where: str) -> None:
    for call in (backend.ping, backend.nodes, backend.services, lambda: backend.get("x")):
        with pytest.raises(DockerUnavailable) as err:
            call()
        assert err.value.http_status == 503
        assert err.value.to_dict()["code"] == "docker_unavailable"
        assert where in err.value.message
        assert "docker.sock" in err.value.message  # says what to check
    with pytest.raises(DockerUnavailable):
        backend.create_service(sleeper_agent("lt-dead", agent="dead"))
    with pytest.raises(DockerUnavailable):
        backend.stop("anything")


def test_missing_socket_is_docker_unavailable():
    path = os.path.join(tempfile.mkdtemp(), "nothing-here.sock")
    _assert_unavailable(SwarmBackend(base_url=f"unix://{path}", timeout=5), path)


def test_dead_socket_is_docker_unavailable():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # a socket file nobody listens on: connection refused
    s.close()
    _assert_unavailable(SwarmBackend(base_url=f"unix://{path}", timeout=5), path)


def test_closed_tcp_port_is_docker_unavailable():
    port = closed_port()
    _assert_unavailable(
        SwarmBackend(base_url=f"tcp://127.0.0.1:{port}", timeout=5), f"127.0.0.1:{port}"
    )


def test_docker_host_env_is_used(monkeypatch):
    path = os.path.join(tempfile.mkdtemp(), "env.sock")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    _assert_unavailable(SwarmBackend(timeout=5), path)


def test_backend_recovers_when_the_daemon_comes_back(docker_client):
    """A backend made while Docker is unreachable works once it is reachable."""
    d = tempfile.mkdtemp()
    link = os.path.join(d, "docker.sock")
    backend = SwarmBackend(base_url=f"unix://{link}", timeout=5)
    with pytest.raises(DockerUnavailable):
        backend.ping()
    os.symlink("/var/run/docker.sock", link)
    backend.ping()
    assert backend.swarm_state()["manager"] is True


def test_not_a_swarm_manager(standalone_dockerd):
    backend = SwarmBackend(base_url=standalone_dockerd, timeout=10)
    backend.ping()
    nodes = backend.nodes()
    assert len(nodes) == 1 and nodes[0].role == "standalone"
    assert nodes[0].state == "ready"
    for call in (
        backend.services,
        backend.require_manager,
        lambda: backend.get("x"),
        lambda: backend.stop("x"),
        lambda: backend.create_service(sleeper_agent("lt-x", agent="x")),
    ):
        with pytest.raises(NotASwarmManager) as err:
            call()
        assert err.value.http_status == 503
        assert "docker swarm init" in err.value.message
    assert backend.node_stats() == []
