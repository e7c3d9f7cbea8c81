"""GET /api/workers: Celery workers per queue and endpoint health; never a 500."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import free_port, wait_until
from tests.faults.harness import *  # noqa: F403 - the stack fixtures

pytestmark = pytest.mark.integration


def test_workers_lists_queues_and_endpoint_health(make_stack, scratch_db, private_redis, llm):
    stack = make_stack(scratch_db, private_redis.url)
    api = stack.api()
    stack.worker(queues="fast,maintenance", concurrency=3)
    stack.beat()  # probes the endpoints every second

    def probed():
        body = requests.get(api + "/api/workers", timeout=10).json()
        return body if body["endpoints"] and body["workers"] else None

    body = wait_until(probed, timeout=60, message="a worker and probed endpoints")
    assert body["inspect_error"] is None
    [worker] = body["workers"]
    assert worker["queues"] == ["fast", "maintenance"]
    assert worker["concurrency"] == 3
    assert body["queues"] == {"fast": [worker["hostname"]], "maintenance": [worker["hostname"]]}
    health = {e["tier"]: e for e in body["endpoints"]}
    assert health["fast"]["healthy"] is True
    assert health["fast"]["models"] == ["fake-model"]


def test_workers_answers_when_the_broker_is_down(make_stack, scratch_db, llm):
    stack = make_stack(scratch_db, f"redis://127.0.0.1:{free_port()}/0")
    api = stack.api()

    resp = requests.get(api + "/api/workers", timeout=30)

    assert resp.status_code == 200
    body = resp.json()
    assert body["workers"] == []
    assert body["inspect_error"]


def test_workers_needs_admin_in_token_mode(make_stack, scratch_db, private_redis, llm):
    import subprocess
    import sys

    from tests.conftest import ROOT

    stack = make_stack(scratch_db, private_redis.url, AUTH_MODE="token")
    api = stack.api()

    def token(*flags: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "app.cli.main", "token", "create", "--owner", "ann", *flags],
            env=stack.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    anonymous = requests.get(api + "/api/workers", timeout=10)
    plain = requests.get(
        api + "/api/workers", headers={"Authorization": f"Bearer {token()}"}, timeout=10
    )
    admin = requests.get(
        api + "/api/workers", headers={"Authorization": f"Bearer {token('--admin')}"}, timeout=10
    )

    assert anonymous.status_code == 401
    assert plain.status_code == 403
    assert plain.json()["error"]["code"]
    assert admin.status_code == 200
