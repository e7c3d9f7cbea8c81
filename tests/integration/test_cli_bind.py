"""`legato api` and `legato run` refuse AUTH_MODE=none on every interface, before starting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", ["api", "run"])
def test_no_auth_on_every_interface_is_refused_with_a_clear_message(command, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env.update(AUTH_MODE="none", LEGATO_DATA_DIR=str(tmp_path / "data"))
    env.pop("ALLOW_INSECURE_BIND", None)
    argv = [sys.executable, "-m", "app.cli", command, "--host", "0.0.0.0"]
    done = subprocess.run(
        [*argv, "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a server that started would never return
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to listen on 0.0.0.0 with AUTH_MODE=none" in done.stderr
    assert "--insecure" in done.stderr
    assert not (tmp_path / "data" / "legato.db").exists()  # nothing was started
