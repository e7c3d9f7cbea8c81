"""Embedded mode: `legato run` on SQLite and Kombu's SQLAlchemy transport, the demo LLM, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_until

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
