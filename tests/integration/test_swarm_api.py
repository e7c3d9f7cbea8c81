"""The swarm-control API against the real dockerd in swarm mode (see .ci/docker-setup.sh).

Services are busybox `sleep` containers from the locally imported test image; their
names start with this run's prefix so parallel runs never touch each other's.
"""

from __future__ import annotations

import uuid

import docker
import pytest

from app import create_app
from app.auth import create_token
from app.config import Settings
from app.db import db
from app.models import Agent
from swarm.specs import agent_queue, agent_service_name
from tests.swarm.conftest import docker_client, standalone_dockerd  # noqa: F401 - fixtures
from tests.swarm.helpers import RUN_PREFIX, TEST_IMAGE, closed_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.swarm]

SLEEP = ["sleep", "3600"]


def _error(resp, status: int, code: str | None = None) -> dict:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert set(body["error"]) >= {"code", "message", "details"}, body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture(scope="module")
def swarm_app(stack_env, docker_client):  # noqa: F811 - fixture from tests.swarm
    return create_app(Settings(swarm_enabled=True))


@pytest.fixture
def api(swarm_app):
    return swarm_app.test_client()


@pytest.fixture
def agent(swarm_app, docker_client):  # noqa: F811
    """A registered agent of the `local` owner, and cleanup of its service."""
    name = f"{RUN_PREFIX}-{uuid.uuid4().hex[:6]}"
    with swarm_app.app_context():
        db.session.add(Agent(owner_id="local", name=name, tier="fast"))
        db.session.commit()
    yield name
    for svc in docker_client.services.list(filters={"label": f"legato.agent={name}"}):
        try:
            svc.remove()
        except docker.errors.NotFound:
            pass


def _deploy(api, agent: str, **extra) -> dict:
    body = {"agent": agent, "image": TEST_IMAGE, "command": SLEEP, **extra}
    resp = api.post("/api/swarm/agents", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_deploy_list_stop_start_remove_with_events(api, agent, docker_client):  # noqa: F811
    svc = _deploy(api, agent, replicas=1, env={"EXTRA_SETTING": "1"})
    name = svc["name"]
    assert agent in name
    assert svc["queue"] == agent_queue(agent, owner="local") and svc["kind"] == "agent"
    assert name == agent_service_name(agent, owner="local")
    assert svc["tier"] == "fast" and svc["desired_replicas"] == 1
    assert "env" not in svc  # the environment (secrets) never comes back
    # Docker really has it, with the worker's environment for this agent.
    env = docker_client.services.get(name).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert f"AGENT_ID={agent}" in env and "EXTRA_SETTING=1" in env

    listed = api.get("/api/swarm/agents").get_json()["items"]
    [mine] = [s for s in listed if s["name"] == name]
    assert mine["idle_minutes"] is not None and mine["idle_minutes"] >= 0
    assert name in {s["name"] for s in api.get("/api/swarm/services").get_json()["items"]}

    _error(
        api.post("/api/swarm/agents", json={"agent": agent, "image": TEST_IMAGE}),
        409,
        "service_conflict",
    )

    stopped = api.post(f"/api/swarm/services/{name}/stop")
    assert stopped.status_code == 200 and stopped.get_json()["desired_replicas"] == 0
    started = api.post(f"/api/swarm/services/{name}/start")
    assert started.status_code == 200 and started.get_json()["desired_replicas"] == 1

    removed = api.delete(f"/api/swarm/services/{name}")
    assert removed.status_code == 200 and removed.get_json() == {"service": name, "removed": True}
    _error(api.delete(f"/api/swarm/services/{name}"), 404, "service_not_found")
    with pytest.raises(docker.errors.NotFound):
        docker_client.services.get(name)

    events = api.get("/api/swarm/events", query_string={"service": name}).get_json()["items"]
    assert [(e["action"], e["from_replicas"], e["to_replicas"]) for e in events] == [
        ("remove", 1, None),
        ("start", 0, 1),
        ("stop", 1, 0),
        ("deploy", None, 1),
    ]
    assert all(e["trigger"] == "api" and e["actor"] == "local" and e["ok"] for e in events)
    assert all(e["reason"] for e in events)
    # paging: `before` an id returns only older events
    older = api.get(
        "/api/swarm/events", query_string={"service": name, "before": events[1]["id"], "limit": 1}
    ).get_json()["items"]
    assert [e["action"] for e in older] == ["stop"]


def test_deploy_at_zero_replicas_and_nodes(api, agent):
    svc = _deploy(api, agent, replicas=0)
    assert svc["desired_replicas"] == 0 and svc["running_replicas"] == 0

    nodes = api.get("/api/nodes")
    assert nodes.status_code == 200
    items = nodes.get_json()["items"]
    assert any(n["role"] == "manager" and n["leader"] for n in items), items


def test_node_stats_lists_a_running_legato_container(api, agent):
    name = _deploy(api, agent, replicas=1)["name"]

    def running():
        return api.get("/api/swarm/agents").get_json()["items"]

    wait_until(
        lambda: any(s["name"] == name and s["running_replicas"] == 1 for s in running()),
        what=f"{name} to run",
    )
    resp = api.get("/api/nodes/stats")
    assert resp.status_code == 200, resp.get_json()
    mine = [s for s in resp.get_json()["items"] if s["service"] == name]
    assert len(mine) == 1
    assert mine[0]["memory_used"] > 0 and mine[0]["cpu_percent"] >= 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"agent": "x", "surprise": 1}, 422),
        ({"agent": "bad name!"}, 422),
        ({"agent": "a", "replicas": -1}, 422),
        ({"agent": "a", "replicas": 101}, 422),
        ({"agent": "a", "replicas": "1"}, 422),
        ({"agent": "a", "command": []}, 422),
        ({"agent": "a", "command": "sleep 1"}, 422),
        ({"agent": "a", "command": ["ok", 3]}, 422),
        ({"agent": "a", "command": ["nul\x00"]}, 422),
        ({"agent": "a", "networks": ["bad net"]}, 422),
        ({"agent": "a", "env": {"BAD=NAME": "x"}}, 422),
        ({"agent": "a", "env": {"OK": 1}}, 422),
        ({"agent": "a", "image": "has space"}, 422),
        ({"agent": "a", "image": ""}, 422),
        ([], 422),
    ],
)
def test_deploy_rejects_bad_bodies(api, body, status):
    _error(api.post("/api/swarm/agents", json=body), status)


def test_deploy_rejects_malformed_json(api):
    resp = api.post("/api/swarm/agents", data="{nope", content_type="application/json")
    _error(resp, 400, "malformed")


def test_deploy_needs_a_registered_agent_of_the_caller(api, swarm_app):
    _error(
        api.post("/api/swarm/agents", json={"agent": f"{RUN_PREFIX}-nobody"}),
        404,
        "agent_not_found",
    )
    # another owner's agent of that name is not the caller's
    other = f"{RUN_PREFIX}-theirs"
    with swarm_app.app_context():
        db.session.add(Agent(owner_id="someone-else", name=other, tier="fast"))
        db.session.commit()
    _error(api.post("/api/swarm/agents", json={"agent": other}), 404, "agent_not_found")


def test_deploy_onto_an_unknown_network_is_invalid(api, agent):
    resp = api.post(
        "/api/swarm/agents",
        json={"agent": agent, "image": TEST_IMAGE, "networks": [f"{RUN_PREFIX}-no-such-net"]},
    )
    _error(resp, 422, "invalid_service_spec")


@pytest.mark.parametrize("name", [f"{RUN_PREFIX}-missing", "bad.name", "-x", "a" * 64])
def test_unknown_or_invalid_service_names_are_404(api, name):
    for resp in (
        api.post(f"/api/swarm/services/{name}/start"),
        api.post(f"/api/swarm/services/{name}/stop"),
        api.delete(f"/api/swarm/services/{name}"),
    ):
        _error(resp, 404, "service_not_found")


def test_services_not_managed_by_legato_are_not_touched(api, docker_client):  # noqa: F811
    name = f"{RUN_PREFIX}-foreign-{uuid.uuid4().hex[:4]}"
    svc = docker_client.services.create(TEST_IMAGE, command=SLEEP, name=name)
    try:
        _error(api.post(f"/api/swarm/services/{name}/stop"), 404, "service_not_found")
        _error(api.delete(f"/api/swarm/services/{name}"), 404)
        assert name not in {s["name"] for s in api.get("/api/swarm/services").get_json()["items"]}
        assert docker_client.services.get(name).id == svc.id
    finally:
        svc.remove()


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "x"},
        {"before": "0"},
        {"service": "a.b"},
        {"what": "1"},
    ],
)
def test_events_rejects_bad_queries(api, query):
    _error(api.get("/api/swarm/events", query_string=query), 422)


ENDPOINTS = [
    ("GET", "/api/nodes"),
    ("GET", "/api/nodes/stats"),
    ("GET", "/api/swarm/services"),
    ("GET", "/api/swarm/agents"),
    ("POST", "/api/swarm/services/x/start"),
    ("POST", "/api/swarm/services/x/stop"),
    ("DELETE", "/api/swarm/services/x"),
]


def test_admin_only(stack_env):
    token_app = create_app(Settings(auth_mode="token", swarm_enabled=True))
    with token_app.app_context():
        user = create_token(f"{RUN_PREFIX}-user")
        db.session.commit()
    client = token_app.test_client()
    for method, path in [*ENDPOINTS, ("GET", "/api/swarm/events")]:
        _error(client.open(path, method=method), 401, "unauthorized")
        resp = client.open(path, method=method, headers={"Authorization": f"Bearer {user}"})
        _error(resp, 403, "forbidden")
    resp = client.post(
        "/api/swarm/agents", json={"agent": "a"}, headers={"Authorization": f"Bearer {user}"}
    )
    _error(resp, 403, "forbidden")


def test_disabled_swarm_control_is_a_clear_503(client):
    """The session's app has SWARM_ENABLED off (as under Compose or Kubernetes)."""
    for method, path in ENDPOINTS:
        err = _error(client.open(path, method=method), 503, "swarm_disabled")
        assert "SWARM_ENABLED" in err["message"]
    _error(client.post("/api/swarm/agents", json={"agent": "a"}), 503, "swarm_disabled")
    # the history lives in the database and stays readable
    assert client.get("/api/swarm/events").status_code == 200


@pytest.mark.parametrize(
    "docker_host",
    [f"unix:///tmp/{RUN_PREFIX}-no-such-docker.sock", f"tcp://127.0.0.1:{closed_port()}"],
)
def test_unreachable_daemon_is_503_with_what_to_check(stack_env, docker_host):
    """A dead endpoint stands in for a stopped daemon (the shared one keeps running)."""
    client = create_app(Settings(swarm_enabled=True, docker_host=docker_host)).test_client()
    for method, path in ENDPOINTS:
        err = _error(client.open(path, method=method), 503, "docker_unavailable")
        assert "Docker is unreachable" in err["message"]
        assert "docker.sock" in err["message"] and err["details"]["endpoint"] == docker_host
    _error(
        client.post("/api/swarm/agents", json={"agent": f"{RUN_PREFIX}-nobody"}), 404
    )  # the agent is checked before Docker is asked


def test_engine_not_in_swarm_mode_is_503_not_a_manager(stack_env, standalone_dockerd):  # noqa: F811
    client = create_app(Settings(swarm_enabled=True, docker_host=standalone_dockerd)).test_client()
    err = _error(client.get("/api/swarm/services"), 503, "not_swarm_manager")
    assert "docker swarm init" in err["message"]
    _error(client.post("/api/swarm/services/x/stop"), 503, "not_swarm_manager")
    nodes = client.get("/api/nodes")  # outside swarm mode: the standalone host
    assert nodes.status_code == 200
    assert [n["role"] for n in nodes.get_json()["items"]] == ["standalone"]
