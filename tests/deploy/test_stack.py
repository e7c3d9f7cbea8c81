"""deploy/stack.yml checked by the real engine: `docker stack config` (the CLI's own
loader and interpolation) and a `docker stack deploy` to the test swarm, with the
busybox test image standing in for every image (the containers fail to start, which
does not matter here: the engine accepted and stored every service spec)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import docker
import pytest
import yaml

from swarm import SwarmBackend
from tests.conftest import unavailable

from ..swarm.helpers import TEST_IMAGE
from .helpers import DEPLOY, TIERS, env_example_names, variables

pytestmark = pytest.mark.swarm

STACK_TEXT = (DEPLOY / "stack.yml").read_text()


def _unavailable(reason: str) -> None:
    unavailable(reason, "run .ci/docker-setup.sh first")


@pytest.fixture(scope="module")
def docker_cli() -> str:
    cli = shutil.which("docker")
    if cli is None:
        _unavailable("no docker CLI")
    try:
        client = docker.DockerClient.from_env(version="auto", timeout=30)
        swarm = client.info().get("Swarm") or {}
        client.close()
    except Exception as exc:
        _unavailable(f"dockerd unreachable: {exc}")
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        _unavailable("dockerd is not a swarm manager")
    return cli


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    """stack.yml with a .env next to it (made from .env.example), as an operator has it."""
    shutil.copy(DEPLOY / "stack.yml", tmp_path / "stack.yml")
    shutil.copy(DEPLOY / ".env.example", tmp_path / ".env")
    return tmp_path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "LEGATO_"))}
    env.pop("DOCKER_HOST", None)
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _supports_stack_config(cli: str) -> bool:
    out = _run([cli, "stack", "--help"], Path("/"), _env())
    return " config " in out.stdout or "\n  config" in out.stdout


def test_every_variable_is_documented_in_env_example():
    missing = variables(STACK_TEXT) - env_example_names()
    assert not missing, f"not in deploy/.env.example: {sorted(missing)}"


def test_stack_config_accepts_the_file(docker_cli, stack_dir):
    if not _supports_stack_config(docker_cli):
        unavailable("this docker CLI has no `stack config`")
    out = _run(
        [docker_cli, "stack", "config", "-c", "stack.yml"],
        stack_dir,
        _env(POSTGRES_PASSWORD="s3cret", LEGATO_IMAGE="registry.example/legato:1.2"),
    )
    assert out.returncode == 0, out.stderr
    cfg = yaml.safe_load(out.stdout)
    services = cfg["services"]
    assert services["api"]["image"] == "registry.example/legato:1.2"
    assert services["api"]["deploy"]["replicas"] == 2
    env = services["worker-fast"]["environment"]
    assert env["DATABASE_URL"] == "postgresql://legato:s3cret@postgres:5432/legato"
    assert env["BROKER_URL"] == "redis://redis:6379/0"
    assert env["TIER"] == "fast"
    # scale-to-zero: every process takes part (dispatch wakes zeroed queues), and agent
    # services deployed through the API join the stack's overlay network
    assert env["SWARM_ENABLED"] == "true" and env["IDLE_SCALE_DOWN_MINUTES"] == "15"
    assert env["SWARM_NETWORK"] == "legato_legato"
    assert services["beat"]["environment"]["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    for tier in TIERS:
        labels = services[f"worker-{tier}"]["deploy"]["labels"]
        assert labels["legato.managed"] == "true"
        assert labels["legato.queue"] == tier
    assert cfg["networks"]["legato"]["driver"] == "overlay"


def test_stack_config_requires_the_database_password(docker_cli, stack_dir):
    if not _supports_stack_config(docker_cli):
        unavailable("this docker CLI has no `stack config`")
    out = _run([docker_cli, "stack", "config", "-c", "stack.yml"], stack_dir, _env())
    assert out.returncode != 0
    assert "POSTGRES_PASSWORD" in out.stderr


@pytest.fixture
def deployed(docker_cli, stack_dir):
    """Deploy the stack under a unique name; remove it (and wait) afterwards."""
    name = f"lt{uuid.uuid4().hex[:6]}"
    env = _env(
        POSTGRES_PASSWORD="s3cret",
        LEGATO_IMAGE=TEST_IMAGE,
        POSTGRES_IMAGE=TEST_IMAGE,
        REDIS_IMAGE=TEST_IMAGE,
        API_PORT=str(20000 + int(name[2:6], 16) % 20000),
        FLOWER_HOST_PORT=str(40000 + int(name[2:6], 16) % 20000),
    )
    out = _run(
        [docker_cli, "stack", "deploy", "--resolve-image", "never", "-c", "stack.yml", name],
        stack_dir,
        env,
    )
    assert out.returncode == 0, out.stderr
    client = docker.DockerClient.from_env(version="auto", timeout=30)
    try:
        yield name, client
    finally:
        _run([docker_cli, "stack", "rm", name], stack_dir, env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            left = client.services.list(filters={"label": f"com.docker.stack.namespace={name}"})
            nets = client.networks.list(filters={"label": f"com.docker.stack.namespace={name}"})
            if not left and not nets:
                break
            if not left:  # `stack rm` gives up on a network whose tasks were still going
                for net in nets:
                    try:
                        net.remove()
                    except docker.errors.APIError:
                        pass
            time.sleep(1)
        client.close()


def test_stack_deploys_to_the_swarm(deployed):
    name, client = deployed
    services = {
        s.name.removeprefix(f"{name}_"): s.attrs["Spec"]
        for s in client.services.list(filters={"label": f"com.docker.stack.namespace={name}"})
    }
    expected = {"postgres", "redis", "migrate", "api", "beat", "flower"}
    expected |= {f"worker-{t}" for t in TIERS}
    assert set(services) == expected

    # Replicas, update and restart policies as written.
    api = services["api"]
    assert api["Mode"]["Replicated"]["Replicas"] == 2
    assert api["UpdateConfig"]["Order"] == "start-first"
    assert api["UpdateConfig"]["FailureAction"] == "rollback"
    assert api["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
    assert services["migrate"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "on-failure"
    assert services["beat"]["Mode"]["Replicated"]["Replicas"] == 1
    assert services["beat"]["UpdateConfig"]["Order"] == "stop-first"
    # beat also consumes the maintenance queue, so the scaler's tasks run where the
    # Docker socket is.
    beat_args = services["beat"]["TaskTemplate"]["ContainerSpec"]["Args"]
    assert beat_args[:3] == ["worker", "--tier", "maintenance"] and "--beat" in beat_args

    # The overlay network, attached to every service.
    nets = client.networks.list(filters={"label": f"com.docker.stack.namespace={name}"})
    assert [n.attrs["Driver"] for n in nets] == ["overlay"]
    assert nets[0].attrs["Attachable"] is True
    for svc_name, spec in services.items():
        targets = [n["Target"] for n in spec["TaskTemplate"].get("Networks", [])]
        assert targets == [nets[0].id], svc_name

    # Only beat has the Docker socket, and it runs on a manager.
    for svc_name, spec in services.items():
        mounts = spec["TaskTemplate"]["ContainerSpec"].get("Mounts", [])
        has_socket = any(m.get("Source") == "/var/run/docker.sock" for m in mounts)
        assert has_socket == (svc_name == "beat"), svc_name
    placement = services["beat"]["TaskTemplate"].get("Placement", {})
    assert "node.role == manager" in placement.get("Constraints", [])

    # Scaler labels, on the services and on their containers.
    for tier in TIERS:
        spec = services[f"worker-{tier}"]
        for labels in (spec["Labels"], spec["TaskTemplate"]["ContainerSpec"]["Labels"]):
            assert labels["legato.managed"] == "true"
            assert labels["legato.kind"] == "worker"
            assert labels["legato.tier"] == tier
            assert labels["legato.queue"] == tier
        cmd = spec["TaskTemplate"]["ContainerSpec"]["Args"]
        assert cmd[:3] == ["worker", "--tier", tier]
    for other in ("api", "beat", "flower", "postgres", "redis"):
        assert services[other]["Labels"].get("legato.managed") != "true", other


def test_the_backend_sees_and_scales_the_stack_workers(deployed):
    name, client = deployed
    backend = SwarmBackend(client)
    mine = {s.name: s for s in backend.services(kind="worker") if s.name.startswith(name + "_")}
    assert set(mine) == {f"{name}_worker-{t}" for t in TIERS}
    for tier in TIERS:
        info = mine[f"{name}_worker-{tier}"]
        assert info.queue == tier and info.tier == tier
        assert info.desired_replicas == 1
        assert info.max_replicas >= 1
    assert mine[f"{name}_worker-fast"].max_replicas == 4
    stopped = backend.stop(f"{name}_worker-quality")
    assert stopped.desired_replicas == 0
    [woken] = [r for r in backend.wake_queue("quality") if r.decision.service.startswith(name)]
    assert woken.ok and woken.decision.target == 1
