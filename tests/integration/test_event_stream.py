"""Following a job: the event stream over real HTTP, and what `legato submit --follow` prints."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from app.cli.client import ApiClient
from tests.conftest import ROOT
from tests.fakellm import error, text
from tests.integration.helpers import movement

pytestmark = pytest.mark.integration


def test_sse_yields_every_event_in_order_then_closes(live_api, worker, llm):
    client = ApiClient(base_url=live_api)
    job = client.submit(instruction="stream me", piece="demo")

    streamed = list(client.follow(job["id"]))

    assert streamed[-1].event == "end"
    assert streamed[-1].json() == {"status": "succeeded"}
    body = [e for e in streamed if e.event != "end"]
    ids = [int(e.id) for e in body]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    stored = client.request("GET", f"/api/jobs/{job['id']}/events")["items"]
    assert [(e.event, e.json()["id"]) for e in body] == [(s["kind"], s["id"]) for s in stored]


def test_stream_resumes_after_last_event_id(live_api, worker, llm):
    client = ApiClient(base_url=live_api)
    job = client.submit(instruction="resume me", piece="demo")
    everything = [e for e in client.follow(job["id"]) if e.event != "end"]

    resp = requests.get(
        f"{live_api}/api/jobs/{job['id']}/events",
        params={"follow": 1},
        headers={"Last-Event-ID": everything[2].id},
        stream=True,
        timeout=10,
    )
    resumed = resp.text

    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert f"id: {everything[2].id}\n" not in resumed
    assert f"id: {everything[3].id}\n" in resumed
    assert resumed.rstrip().endswith('data: {"status": "succeeded"}')


def test_llm_retries_are_in_the_event_log(live_api, worker, llm):
    llm.when(movement("draft"), error(503), text("recovered"))
    client = ApiClient(base_url=live_api)
    job = client.submit(instruction="flaky endpoint", piece="demo")

    events = [e.json() for e in client.follow(job["id"]) if e.event != "end"]

    retries = [e["data"] for e in events if e["kind"] == "llm_retry"]
    assert len(retries) == 1
    assert retries[0]["movement"] == "draft" and retries[0]["attempt"] == 1
    assert "503" in retries[0]["reason"]
    assert events[-1]["kind"] == "job_succeeded"


def test_cli_submit_follow_streams_and_exits_zero(live_api, worker, llm):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "submit",
            "from the cli",
            "--piece",
            "demo",
            "--follow",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "LEGATO_API_URL": live_api},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("▶ draft") for line in lines)
    assert any(line.startswith("✓ review → COMPLETE") for line in lines)
    assert "■ succeeded" in lines


def test_cli_follow_exits_nonzero_when_the_job_fails(live_api, worker, llm):
    # Every judgment stage of review answers nothing usable: no rule can be found.
    llm.when(lambda r: r.headers.get("X-Legato-Purpose") == "judge", text("none fits"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "submit",
            "doomed",
            "--piece",
            "demo",
            "--follow",
            "--max-attempts",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "LEGATO_API_URL": live_api},
    )
    assert result.returncode == 1
    assert (
        'job failed: Movement execution failed: Status not found for movement "review"'
        in result.stderr
    )
