"""`legato health` and the container health check (the same module run as a script, as
the image's HEALTHCHECK runs it), against the real PostgreSQL and Redis, dead ports,
HTTP endpoints, and a real `legato worker` whose heartbeat it reads."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_until

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "app" / "cli" / "commands" / "health.py"
_SETTINGS = ("BROKER_URL", "DATABASE_URL", "LEGATO_ROLE", "PORT", "FLOWER_PORT")


def script(**env: str) -> subprocess.CompletedProcess[str]:
    """The health check as the container runs it: `python -I <file>`, settings from env."""
    clean = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def deps(stack_env) -> dict[str, str]:
    return {"BROKER_URL": stack_env["BROKER_URL"], "DATABASE_URL": stack_env["DATABASE_URL"]}


def test_beat_passes_when_broker_and_database_answer(deps):
    out = script(LEGATO_ROLE="beat", **deps)
    assert out.returncode == 0, out.stdout
    assert "broker: ok" in out.stdout and "database: ok" in out.stdout


def test_an_unreachable_broker_fails_without_showing_its_password(deps):
    dead = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    out = script(LEGATO_ROLE="beat", BROKER_URL=dead, DATABASE_URL=deps["DATABASE_URL"])
    assert out.returncode == 1
    assert "broker: FAIL" in out.stdout and "database: ok" in out.stdout
    assert "hunter2" not in out.stdout + out.stderr and "***" in out.stdout


def test_an_unreachable_database_fails_without_showing_its_password(deps):
    dead = f"postgresql://legato:hunter2@127.0.0.1:{free_port()}/legato"
    out = script(LEGATO_ROLE="beat", BROKER_URL=deps["BROKER_URL"], DATABASE_URL=dead)
    assert out.returncode == 1
    assert "database: FAIL" in out.stdout and "broker: ok" in out.stdout
    assert "hunter2" not in out.stdout + out.stderr


def test_a_worker_without_a_heartbeat_fails(deps, tmp_path):
    out = script(LEGATO_ROLE="worker", LEGATO_HEARTBEAT_FILE=str(tmp_path / "hb"), **deps)
    assert out.returncode == 1 and "heartbeat: FAIL" in out.stdout


def test_the_cli_command_gives_the_same_verdict(deps):
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    ok = subprocess.run(
        [sys.executable, "-m", "app.cli", "health", "--role", "beat"],
        env={**env, **deps},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "health", "--role", "beat"],
        env={**env, **deps, "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "broker: FAIL" in bad.stderr


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, int] = {}

    def do_GET(self) -> None:
        self.send_response(self.routes.get(self.path, 404))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[int, dict[str, int]]]:
    routes: dict[str, int] = {}
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("H", (_Handler,), {"routes": routes})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], routes
    finally:
        server.shutdown()
        server.server_close()


def test_api_and_flower_roles_ask_their_http_endpoints(http_server):
    port, routes = http_server
    routes.update({"/healthz": 200, "/healthcheck": 200})
    assert script(LEGATO_ROLE="api", PORT=str(port)).returncode == 0
    assert script(LEGATO_ROLE="flower", FLOWER_PORT=str(port)).returncode == 0
    routes.update({"/healthz": 503, "/healthcheck": 500})
    bad = script(LEGATO_ROLE="api", PORT=str(port))
    assert bad.returncode == 1 and "503" in bad.stdout
    assert script(LEGATO_ROLE="flower", FLOWER_PORT=str(port)).returncode == 1
    assert script(LEGATO_ROLE="api", PORT=str(free_port())).returncode == 1


def test_the_script_imports_nothing_of_legato_at_the_top():
    """Run as a file, it must not need the app package (that is the point)."""
    top = SCRIPT.read_text().split("if __name__ ==")[0]
    assert "from app" not in top and "import app" not in top


def test_a_live_worker_is_healthy_and_a_frozen_one_is_not(stack_env, tmp_path):
    heartbeat = tmp_path / "worker.heartbeat"
    env = {
        **os.environ,
        **stack_env,
        "LEGATO_HEARTBEAT_FILE": str(heartbeat),
        "LEGATO_HEARTBEAT_INTERVAL": "0.5",
    }
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--tier", "maintenance"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    check = {
        "LEGATO_ROLE": "worker",
        "LEGATO_HEARTBEAT_FILE": str(heartbeat),
        "LEGATO_HEARTBEAT_MAX_AGE": "5",
        "BROKER_URL": stack_env["BROKER_URL"],
        "DATABASE_URL": stack_env["DATABASE_URL"],
    }

    def healthy() -> bool:
        assert proc.poll() is None, f"the worker exited:\n{log.read_text()[-3000:]}"
        return script(**check).returncode == 0

    try:
        wait_until(healthy, 90, 0.5, "a healthy worker")
        # A frozen worker's timer stops touching the file: after LEGATO_HEARTBEAT_MAX_AGE
        # the check fails while broker and database still answer.
        proc.send_signal(signal.SIGSTOP)
        wait_until(lambda: script(**check).returncode == 1, 90, 0.5, "the frozen worker to fail")
        out = script(**check).stdout
        assert "heartbeat: FAIL" in out and "broker: ok" in out and "database: ok" in out
        proc.send_signal(signal.SIGCONT)
        wait_until(healthy, 90, 0.5, "the thawed worker")
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # A warm shutdown removes the heartbeat: nothing stale is left to mislead.
    assert not Path(heartbeat).exists(), log.read_text()[-2000:]
