"""deploy/Dockerfile (static checks: it cannot be built here, see below) and
deploy/healthcheck.py (run for real against local servers).

Why no `docker build`: the base image python:3.11-slim comes from a registry, which
this machine cannot reach, and `pip install .` inside a build container would need
the machine's egress CA. The checks below pin down the structure instead.
"""

from __future__ import annotations

import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import DEPLOY, ROOT

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
HEALTHCHECK = DEPLOY / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_multi_stage_builder_and_runtime():
    froms = [args for ins, args in instructions() if ins == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    arg = next(args for ins, args in instructions() if ins == "ARG")
    assert arg == "PYTHON_IMAGE=python:3.11-slim"


def test_builder_installs_the_package_into_a_venv():
    builder = stages()[0]
    runs = " ".join(args for ins, args in builder if ins == "RUN")
    assert "python -m venv /opt/venv" in runs
    assert "pip install ." in runs
    copies = [args.split() for ins, args in builder if ins == "COPY"]
    sources = [src for parts in copies for src in parts[:-1] if not src.startswith("--")]
    # Every package the wheel is built from (pyproject's packages.find) is copied in.
    for package in ("app", "tasks", "pieces", "agents", "swarm", "pyproject.toml"):
        assert package in sources, package
        assert (ROOT / package).exists(), package


def test_runtime_copies_only_the_venv_and_runs_as_non_root():
    runtime = stages()[1]
    copies = [args for ins, args in runtime if ins == "COPY"]
    assert "--from=builder /opt/venv /opt/venv" in copies
    assert all("--from=builder" not in c or "/opt/venv" in c for c in copies)
    users = [args for ins, args in runtime if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert not any(ins == "RUN" and "pip install" in args for ins, args in runtime)


def test_healthcheck_and_entrypoint():
    runtime = dict((ins, args) for ins, args in stages()[1])
    hc = runtime["HEALTHCHECK"]
    assert "--interval=" in hc and "--timeout=" in hc and "--start-period=" in hc
    assert "/usr/local/bin/legato-healthcheck" in hc
    assert "COPY deploy/healthcheck.py /usr/local/bin/legato-healthcheck" in DOCKERFILE
    assert runtime["ENTRYPOINT"] == '["legato"]'
    assert runtime["CMD"] == '["api"]'
    env = runtime["ENV"]
    assert "PORT=8000" in env and "LEGATO_ROLE=api" in env and "PATH=/opt/venv/bin:$PATH" in env


def test_dockerignore_keeps_the_context_small():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignore)
    for needed in ("app", "tasks", "pieces", "agents", "swarm", "pyproject.toml", "README.md"):
        assert needed not in ignore


# ------------------------------------------------------------------ healthcheck.py


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, int] = {}

    def do_GET(self) -> None:
        status = self.routes.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[int, dict[str, int]]]:
    routes: dict[str, int] = {}
    handler = type("H", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], routes
    finally:
        server.shutdown()
        server.server_close()


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("BROKER_URL", "PORT", "LEGATO_ROLE")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_healthcheck_hits_healthz(http_server):
    port, routes = http_server
    routes["/healthz"] = 200
    ok = _check(LEGATO_ROLE="api", PORT=str(port))
    assert ok.returncode == 0, ok.stdout
    assert "/healthz -> 200" in ok.stdout
    routes["/healthz"] = 503
    bad = _check(LEGATO_ROLE="api", PORT=str(port))
    assert bad.returncode == 1 and "503" in bad.stdout


def test_api_is_the_default_role(http_server):
    port, routes = http_server
    routes["/healthz"] = 200
    assert _check(PORT=str(port)).returncode == 0


def test_api_down_is_unhealthy():
    out = _check(LEGATO_ROLE="api", PORT=str(_closed_port()))
    assert out.returncode == 1 and "FAIL" in out.stdout


def test_flower_healthcheck(http_server):
    port, routes = http_server
    routes["/healthcheck"] = 200
    assert _check(LEGATO_ROLE="flower", FLOWER_PORT=str(port)).returncode == 0
    routes["/healthcheck"] = 500
    assert _check(LEGATO_ROLE="flower", FLOWER_PORT=str(port)).returncode == 1


def test_worker_healthcheck_checks_the_broker_without_leaking_the_password():
    port = _closed_port()
    out = _check(LEGATO_ROLE="worker", BROKER_URL=f"redis://:hunter2@127.0.0.1:{port}/0")
    assert out.returncode == 1
    assert "hunter2" not in out.stdout + out.stderr
    assert f"127.0.0.1:{port}" in out.stdout


def test_worker_healthcheck_passes_with_a_live_broker():
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        out = _check(LEGATO_ROLE="beat", BROKER_URL=f"redis://127.0.0.1:{port}/0")
    assert out.returncode == 0, out.stdout


def test_worker_healthcheck_without_a_network_broker_passes():
    out = _check(LEGATO_ROLE="worker", BROKER_URL="sqla+sqlite:////data/legato.db")
    assert out.returncode == 0
    assert "no network broker" in out.stdout


def test_healthcheck_uses_only_the_standard_library():
    imports = re.findall(r"^(?:from|import) (\S+)", HEALTHCHECK.read_text(), re.M)
    roots = {name.split(".")[0] for name in imports}
    assert roots <= {"__future__", "os", "socket", "sys", "urllib"}, roots
    assert shlex.split("python /usr/local/bin/legato-healthcheck")[0] == "python"
    assert Path(HEALTHCHECK).read_text().startswith("#!/usr/bin/env python3")
