"""`legato flower` against the session's broker (Redis with its BROKER_KEY_PREFIX) and
the session's real worker: Flower's HTTP API lists the worker and a finished
`legato.run_movement` with readable arguments (job id, movement, tier).

Kombu prefixes PUBLISH channels with BROKER_KEY_PREFIX too, so Flower seeing the
worker's events at all shows it runs with the app's broker transport options.
Flower only knows tasks from events it received while running, so the job is
submitted after Flower is up.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_until
from tests.integration.helpers import submit, wait_for_status

pytestmark = pytest.mark.integration

AUTH = ("flower", "test-pass")


@pytest.fixture
def flower(stack_env, worker, tmp_path):
    port = free_port()
    log_path = tmp_path / "flower.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "flower",
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
        ],
        env={**os.environ, **stack_env, "FLOWER_BASIC_AUTH": ":".join(AUTH)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            pytest.fail(f"flower exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            return requests.get(f"{base}/healthcheck", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, timeout=60, interval=0.3, message="flower to answer /healthcheck")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _get(base: str, path: str, **params):
    resp = requests.get(base + path, params=params, auth=AUTH, timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()


def test_flower_api_needs_the_basic_auth(flower):
    assert requests.get(f"{flower}/api/workers", timeout=10).status_code == 401


def test_flower_lists_the_worker_and_a_finished_movement(flower, client, llm):
    # The worker is found through the broker (control broadcast + its events).
    workers = wait_until(
        lambda: _get(flower, "/api/workers", refresh="true") or None,
        timeout=60,
        interval=1,
        message="flower to list the worker",
    )
    assert any("@" in name for name in workers), workers

    job = submit(client, instruction="flower sees this", piece="demo")
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded", done
    first = done["runs"][0]

    def finished():
        tasks = _get(flower, "/api/tasks", taskname="legato.run_movement", state="SUCCESS")
        mine = [t for t in tasks.values() if job["id"] in (t.get("kwargs") or "")]
        return mine if len(mine) == len(done["runs"]) else None

    mine = wait_until(finished, timeout=60, interval=0.5, message="flower to see the tasks")
    task = next(t for t in mine if first["id"] in (t.get("args") or ""))
    assert task["name"] == "legato.run_movement" and task["state"] == "SUCCESS"
    # readable: the run id as the argument; job id, movement name and tier as kwargs
    assert f"'job_id': '{job['id']}'" in task["kwargs"]
    assert f"'movement': '{first['name']}'" in task["kwargs"]
    assert f"'tier': '{done['tier']}'" in task["kwargs"]
    assert task["worker"] in workers
