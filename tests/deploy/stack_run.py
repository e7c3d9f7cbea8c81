"""A legato stack deployed on the test swarm, driven from outside as an operator would:
`docker stack deploy`, the HTTP API, the `legato` CLI inside a container, and docker.

The stack gets its own name, its own PostgreSQL and Redis (services of the stack, so
the machine's shared ones are never touched), its own volumes and host ports; `remove`
takes all of it away again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import requests

from .helpers import DEPLOY

SHELL_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")

HERE = Path(__file__).resolve().parent
STACK_FILES = ("stack.yml", "stack.swarm-control.yml", "stack.sandbox.yml")


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail saying ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (requests.RequestException, docker.errors.APIError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {last!r}")
        time.sleep(interval)


def gateway_address(client: docker.DockerClient) -> str:
    """The host's address on docker_gwbridge: what a task on an overlay network reaches
    the host by (its default route), so the fake LLM listens there."""
    net = client.networks.get("docker_gwbridge")
    return net.attrs["IPAM"]["Config"][0]["Gateway"]


class Stack:
    def __init__(
        self,
        client: docker.DockerClient,
        workdir: Path,
        image: str,
        postgres_image: str,
        redis_image: str,
        dotenv: dict[str, str],
    ) -> None:
        self.client = client
        self.name = f"ldep{uuid.uuid4().hex[:6]}"
        self.dir = workdir
        self.api_port = _free_port()
        self.token = ""
        self.agent_services: list[str] = []  # created through the API, outside the stack
        shutil.copy(DEPLOY / "stack.yml", workdir / "stack.yml")
        shutil.copy(DEPLOY / "stack.swarm-control.yml", workdir / "stack.swarm-control.yml")
        shutil.copy(HERE / "stack.sandbox.yml", workdir / "stack.sandbox.yml")
        (workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        # What the README has operators export before `docker stack deploy`.
        self.shell_env = {
            "STACK_NAME": self.name,
            "SWARM_SERVICE_PREFIX": f"{self.name}_",
            "LEGATO_IMAGE": image,
            "POSTGRES_IMAGE": postgres_image,
            "REDIS_IMAGE": redis_image,
            "POSTGRES_PASSWORD": uuid.uuid4().hex,
            "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
            "API_PORT": str(self.api_port),
            "FLOWER_HOST_PORT": str(_free_port()),
            "API_WORKERS": "1",
            "FAST_CONCURRENCY": "4",
            "AUTO_CONCURRENCY": "4",
            "QUALITY_CONCURRENCY": "4",
            "REFLECTION_CONCURRENCY": "2",
            "IDLE_SCALE_INTERVAL": "5",
            "TEST_PIECES_DIR": str(workdir / "pieces"),
        }

    # -- docker -------------------------------------------------------------------------

    def docker(self, *args: str, timeout: float = 180, check: bool = True) -> str:
        # Only what an operator's shell has, plus what the README has them export: the
        # test session's own settings (AUTH_MODE=none, TIERS, ...) sit in os.environ and
        # would otherwise fill the stack file's ${VARIABLES}.
        env = {k: os.environ[k] for k in SHELL_VARIABLES if k in os.environ}
        env.update(self.shell_env)
        out = subprocess.run(
            ["docker", *args],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout

    def deploy(self) -> None:
        files = [arg for f in STACK_FILES for arg in ("-c", f)]
        self.docker("stack", "deploy", "--resolve-image", "never", *files, self.name)

    def service(self, short: str) -> docker.models.services.Service:
        return self.client.services.get(f"{self.name}_{short}")

    def replicas(self, short: str) -> int:
        return self.service(short).attrs["Spec"]["Mode"]["Replicated"]["Replicas"]

    def containers(self, service: str) -> list[docker.models.containers.Container]:
        """Running containers of a service (``service`` is a full service name)."""
        return self.client.containers.list(
            filters={"label": f"com.docker.swarm.service.name={service}", "status": "running"}
        )

    def container(self, short: str) -> docker.models.containers.Container:
        found = wait_for(
            f"a running container of {short}", lambda: self.containers(f"{self.name}_{short}"), 180
        )
        return found[0]

    def health(self, container: docker.models.containers.Container) -> dict[str, Any]:
        container.reload()
        return container.attrs["State"].get("Health") or {}

    def exec(self, short: str, *cmd: str) -> str:
        return self.docker("exec", self.container(short).id, *cmd, timeout=120).strip()

    def logs(self, limit: int = 60) -> str:
        """The last lines of every service's logs, for a failing test's report."""
        services = self.client.services.list(
            filters={"label": f"com.docker.stack.namespace={self.name}"}
        )
        # The API first: a stack that never answers is most often an API that never started.
        services.sort(key=lambda svc: (not svc.name.endswith("_api"), svc.name))
        parts = []
        for svc in services:
            tasks = self.docker(
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.Name}} {{.CurrentState}} {{.Error}}",
                svc.name,
                check=False,
            )
            out = self.docker("service", "logs", "--tail", str(limit), svc.name, check=False)
            parts.append(f"--- {svc.name}\n{tasks}{out}")
        return "\n".join(parts)

    def remove(self) -> None:
        for name in self.agent_services:
            try:
                self.client.services.get(name).remove()
            except docker.errors.NotFound:
                pass
        self.docker("stack", "rm", self.name, check=False)
        label = {"label": f"com.docker.stack.namespace={self.name}"}

        def gone() -> bool:
            if self.client.services.list(filters=label):
                return False
            if self.client.containers.list(all=True, filters=label):
                return False
            for net in self.client.networks.list(filters=label):
                try:
                    net.remove()  # `stack rm` gives up on a network still in use
                except docker.errors.APIError:
                    return False
            return True

        try:
            wait_for(f"stack {self.name} to go", gone, 180)
        finally:
            for vol in self.client.volumes.list(filters=label):
                try:
                    vol.remove(force=True)
                except docker.errors.APIError:
                    pass

    # -- the HTTP API ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def api(self, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        resp = requests.request(
            method, self.url + path, json=body, headers=headers, timeout=(5, 180)
        )
        if expect is not None and resp.status_code != expect:
            raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def status(self, path: str) -> int:
        return requests.get(self.url + path, timeout=(5, 30)).status_code

    def job(self, job_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/jobs/{job_id}")

    def wait_for_job(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        terminal = {"succeeded", "failed", "cancelled"}
        return wait_for(
            f"job {job_id} to end",
            lambda: (job := self.job(job_id))["status"] in terminal and job,
            timeout,
        )

    def events(self, job_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/jobs/{job_id}/events")["items"]

    def consumers(self) -> dict[str, list[str]]:
        """Queue -> Celery worker hostnames, as GET /api/workers reports them."""
        return self.api("GET", "/api/workers")["queues"]

    def __repr__(self) -> str:
        return f"Stack({self.name}, {self.url})"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:4000]
