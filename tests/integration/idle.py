"""Jobs sent to the idle tier wait there for good; a module that leaves some behind would
hand them to the next worker that consumes `idle` (and skew what that test counts)."""

from __future__ import annotations

import pytest

from tests.conftest import IDLE_TIER


def cancel_idle_jobs(client) -> None:
    while True:
        page = client.get(f"/api/jobs?owner=*&tier={IDLE_TIER}&status=queued&limit=200")
        items = page.get_json()["items"]
        if not items:
            return
        for job in items:
            client.post(f"/api/jobs/{job['id']}/cancel")


@pytest.fixture(scope="module", autouse=True)
def no_idle_jobs_left(app):
    """Autouse in a module that imports it: cancel its idle-tier jobs when it ends."""
    yield
    cancel_idle_jobs(app.test_client())
