"""Fault 3: PostgreSQL stops for a few seconds mid-run. The API answers 503 while it is
down, and every job finishes after it returns. Runs on a private PostgreSQL cluster
so the machine's shared server is never touched."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import wait_until
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import PrivatePostgres, figure

pytestmark = [pytest.mark.faults, pytest.mark.integration]

JOBS = 8


@pytest.fixture
def private_pg():
    cluster = PrivatePostgres()
    try:
        yield cluster.init()
    finally:
        cluster.destroy()


def test_postgres_outage_api_503_then_every_job_finishes(
    make_stack, private_pg, private_redis, fake_llm
):
    stack = make_stack(private_pg.url, private_redis.url)
    api = stack.api()
    stack.worker()
    stack.beat()
    fake_llm.latency = 1.0

    ids = [stack.submit(piece="demo", instruction=f"job {n}")["id"] for n in range(JOBS)]
    wait_until(lambda: fake_llm.in_flight >= 2, timeout=30, message="calls in flight")
    private_pg.stop("fast")
    try:
        during = [
            requests.get(f"{api}/api/jobs", timeout=15).status_code,
            requests.post(f"{api}/api/jobs", json={"instruction": "x"}, timeout=15).status_code,
        ]
        body = requests.get(f"{api}/api/jobs/{ids[0]}", timeout=15).json()
        time.sleep(3)  # the outage: leases, claims and finishes fail meanwhile
    finally:
        private_pg.start()

    stack.wait_all(ids, timeout=150)
    counts = figure("postgres outage", ids, stack)

    assert during == [503, 503]
    assert body["error"]["code"] == "unavailable"
    assert counts == {
        "submitted": JOBS,
        "succeeded": JOBS,
        "failed": 0,
        "lost": 0,
        "duplicated": 0,
    }
    assert max(fake_llm.max_concurrent_by_run().values()) == 1
    assert requests.get(f"{api}/api/jobs", timeout=10).status_code == 200
