"""A real embedded stack for tests: `legato run` on SQLite with Kombu's SQLAlchemy transport.

The API (gunicorn), a worker for every tier and beat run as `legato run` children on
one SQLite file, exactly as a new user starts legato. Tokens are made with the real
`legato token create` against the same file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import ROOT, free_port, wait_until

# Service settings of the session's PostgreSQL/Redis stack that must not leak in.
SERVICE_VARS = (
    "DATABASE_URL",
    "BROKER_URL",
    "BROKER_KEY_PREFIX",
    "LLM_BASE_URL",
    "PIECES_PATH",
    "TIERS",
    "AUTH_MODE",
)


@dataclass
class EmbeddedStack:
    base: str
    env: dict[str, str]
    log_path: Path

    def legato(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def token(self, owner: str) -> str:
        made = self.legato("token", "create", "--owner", owner)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip().splitlines()[-1]

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def embedded_stack(tmp_path: Path, **settings: str) -> Iterator[EmbeddedStack]:
    """`legato run` in `tmp_path` with extra environment `settings`; stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["LEGATO_DATA_DIR"] = str(tmp_path / "data")
    env.update(settings)
    base = f"http://127.0.0.1:{port}"
    stack = EmbeddedStack(base, env, tmp_path / "run.log")
    upgraded = stack.legato("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    with open(stack.log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run", "--port", str(port), "--concurrency", "4"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: ready(base) or proc.poll() is not None,
            timeout=90,
            message="the embedded stack to be ready",
        )
        assert proc.poll() is None, stack.tail()
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
