"""Embedded mode: `legato run` on SQLite and Kombu's SQLAlchemy transport, the demo LLM, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_until
from tests.fakellm import delay, text

pytestmark = pytest.mark.integration

SERVICE_VARS = (
    "DATABASE_URL",
    "BROKER_URL",
    "BROKER_KEY_PREFIX",
    "LLM_BASE_URL",
    "PIECES_PATH",
    "TIERS",
    "AUTH_MODE",
)


def test_legato_run_completes_a_demo_job_submitted_through_the_cli(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["LEGATO_DATA_DIR"] = str(tmp_path / "data")
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        stack = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "run",
                "--port",
                str(port),
                "--concurrency",
                "4",
            ],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: _ready(base) or stack.poll() is not None,
            timeout=90,
            message="the embedded stack to be ready",
        )
        assert stack.poll() is None, log_path.read_text()
        # It ends its start-up by saying where everything is and what to type next;
        # the API and worker logs went to their own files, not above that.
        wait_until(
            lambda: "legato submit" in log_path.read_text(),
            timeout=30,
            message="the start-up banner",
        )
        banner = log_path.read_text()
        assert f"console   {base}/ui/" in banner and f"(docs: {base}/docs)" in banner
        assert f"LEGATO_API_URL={base} legato submit" in banner
        assert "celery@" not in banner and "ready." not in banner

        submitted = subprocess.run(
            [sys.executable, "-m", "app.cli", "submit", "hello", "--follow"],
            env={**env, "LEGATO_API_URL": base},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert submitted.returncode == 0, submitted.stderr + log_path.read_text()[-3000:]
        assert "▶ draft" in submitted.stdout and "■ succeeded" in submitted.stdout
        assert "offline demo agent" in submitted.stdout  # the demo provider answered
        assert (tmp_path / "data" / "legato.db").exists()
        assert "ready." in (tmp_path / "data" / "logs" / "worker.log").read_text()
    finally:
        stack.send_signal(signal.SIGINT)  # what Ctrl-C does
        code = stack.wait(timeout=40)
    assert code == 0, log_path.read_text()[-3000:]
    assert not _ready(base)  # everything stopped, including the API


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_legato_run_restarts_a_killed_worker_and_the_job_finishes_once(tmp_path, llm):
    # The fake model holds draft's first call, so the worker is killed mid-movement.
    llm.when(
        lambda r: r.movement == "draft" and r.kind == "execute",
        delay(60.0, text("lost")),
        text("Draft."),
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env |= {
        "LEGATO_DATA_DIR": str(tmp_path / "data"),
        "LLM_BASE_URL": llm.url,
        "MOVEMENT_LEASE_SECONDS": "6",
        "BEAT_RECOVER_STUCK_SECONDS": "1",
    }
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        stack = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base) or stack.poll() is not None, timeout=90, message="ready")
        assert stack.poll() is None, log_path.read_text()
        job = requests.post(f"{base}/api/jobs", json={"instruction": "a haiku"}, timeout=10).json()
        wait_until(lambda: llm.in_flight >= 1, timeout=60, message="draft's model call")
        [worker] = [p for p in _children(stack.pid) if " worker " in _cmdline(p)]
        os.kill(worker, signal.SIGKILL)

        def ended():
            detail = requests.get(f"{base}/api/jobs/{job['id']}", timeout=10).json()
            return detail if detail["status"] in ("succeeded", "failed", "cancelled") else None

        done = wait_until(ended, timeout=180, message="the job to end")
        assert done["status"] == "succeeded", done
        drafts = [r["status"] for r in done["runs"] if r["name"] == "draft"]
        assert drafts == ["timed_out", "completed"]  # recovered once, run once more
        assert [r["name"] for r in done["runs"]].count("review") == 1
        assert "worker exited with status -9; starting it again" in log_path.read_text()
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=40)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""
