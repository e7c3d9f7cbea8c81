"""Fixtures for the swarm tests: a real dockerd in swarm mode (see .ci/docker-setup.sh).

When the daemon is unreachable the tests that need it are skipped, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from swarm import ServiceSpec, SwarmBackend
from tests.conftest import unavailable

from .helpers import RUN_PREFIX, TEST_IMAGE


def _unavailable(reason: str) -> None:
    unavailable(reason, "run .ci/docker-setup.sh first")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.DockerClient.from_env(version="auto", timeout=30)
        client.ping()
    except Exception as exc:  # any failure to reach the daemon
        _unavailable(f"dockerd unreachable: {exc}")
    info = client.info()
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        _unavailable("dockerd is not a swarm manager (docker swarm init)")
    try:
        client.images.get(TEST_IMAGE)
    except docker.errors.ImageNotFound:
        _unavailable(f"test image {TEST_IMAGE} missing")
    yield client
    # Remove whatever this run left behind (a failed test may skip its own cleanup).
    for svc in client.services.list(filters={"name": RUN_PREFIX}):
        if svc.name.startswith(RUN_PREFIX):
            try:
                svc.remove()
            except docker.errors.APIError:
                pass
    client.close()


@pytest.fixture
def backend(docker_client: docker.DockerClient) -> SwarmBackend:
    return SwarmBackend(docker_client)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("x")`` -> ``lt1a2b3c-<test>-x-<n>``: valid, unique per call."""
    counter = iter(range(1000))
    test = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())
    test = test.replace("test-", "").strip("-")[:20].strip("-")

    def make(suffix: str = "svc") -> str:
        return f"{RUN_PREFIX}-{test}-{suffix}-{next(counter)}"[:63].strip("-")

    return make


@pytest.fixture
def deploy(
    backend: SwarmBackend, docker_client: docker.DockerClient
) -> Iterator[Callable[..., object]]:
    """``deploy(spec)`` creates a service through the backend and removes it after the
    test; ``deploy.names`` lists what was created."""
    created: list[str] = []

    def _deploy(spec: ServiceSpec):
        info = backend.create_service(spec)
        created.append(info.name)
        return info

    _deploy.names = created  # type: ignore[attr-defined]
    yield _deploy
    for name in created:
        try:
            docker_client.services.get(name).remove()
        except docker.errors.NotFound:
            pass


@pytest.fixture(scope="session")
def standalone_dockerd(docker_client: docker.DockerClient) -> Iterator[str]:
    """A second, short-lived dockerd that is NOT in swarm mode; yields its URL.

    Own socket, data-root and exec-root under a temp dir, no bridge, no iptables,
    and its own network namespace: a dockerd started with ``--bridge=none`` deletes
    any ``docker0`` interface it sees, which would break the main daemon."""
    dockerd = shutil.which("dockerd")
    unshare = shutil.which("unshare")
    if dockerd is None or unshare is None:
        _unavailable("no dockerd or unshare binary for a standalone daemon")
    root = Path(tempfile.mkdtemp(prefix="legato-dk-", dir="/tmp"))
    sock = root / "d.sock"
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 (closed below)
    env = dict(os.environ, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE="1")
    proc = subprocess.Popen(
        [
            unshare,
            "--net",
            dockerd,
            "-H",
            f"unix://{sock}",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "d.pid"),
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"unix://{sock}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = docker.DockerClient(base_url=url, version="auto", timeout=5)
                c.ping()
                c.close()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (root / "dockerd.log").read_text(errors="replace")[-1500:]
                    pytest.fail(f"standalone dockerd did not start:\n{tail}")
                time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
