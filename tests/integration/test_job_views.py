"""What the console reads: a job's piece graph, one run in full, list filters, heartbeats."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import IDLE_TIER, wait_until
from tests.fakellm import text
from tests.integration.helpers import movement, submit, wait_for_status
from tests.integration.idle import no_idle_jobs_left  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.integration


def test_job_piece_is_the_stored_graph(client):
    job = submit(client, piece="demo", tier=IDLE_TIER)
    resp = client.get(f"/api/jobs/{job['id']}/piece")
    assert resp.status_code == 200
    graph = resp.get_json()
    assert graph["name"] == "demo" and graph["initial"] == "draft"
    assert [n["name"] for n in graph["nodes"]] == ["draft", "review"]
    assert {"from": "review", "to": "COMPLETE"} in [
        {"from": e["from"], "to": e["to"]} for e in graph["edges"]
    ]


def test_one_run_in_full_with_its_reports(client, worker, llm):
    llm.when(movement("outline"), text("## Outline\n1. one\n2. two\n[STEP:0]"))
    job = submit(client, piece="reports", instruction="outline a talk")
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded", done
    first = done["runs"][0]

    resp = client.get(f"/api/jobs/{job['id']}/runs/{first['id']}")

    assert resp.status_code == 200
    run = resp.get_json()
    assert run["id"] == first["id"] and run["name"] == first["name"]
    assert run["prompt"] and "outline a talk" in run["prompt"]
    assert run["output"] == first["output"]
    assert run["llm_calls"] and run["llm_calls"][0]["outcome"] == "ok"
    assert isinstance(run["phases"], list) and isinstance(run["traces"], list)
    assert [r["name"] for r in run["reports"]]  # the reports piece writes one per movement


def test_run_and_piece_of_unknown_things_are_404s(client):
    job = submit(client, piece="demo", tier=IDLE_TIER)
    other = submit(client, piece="demo", tier=IDLE_TIER)
    other_run = client.get(f"/api/jobs/{other['id']}").get_json()["runs"][0]["id"]
    for path in (
        f"/api/jobs/{job['id']}/runs/{other_run}",  # a run of another job
        f"/api/jobs/{job['id']}/runs/{uuid.uuid4()}",
        f"/api/jobs/{uuid.uuid4()}/runs/{other_run}",
        f"/api/jobs/{uuid.uuid4()}/piece",
        f"/api/jobs/{job['id']}/runs/not-a-uuid",
        "/api/jobs/not-a-uuid/piece",
    ):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.get_json()["error"]["code"]


def test_list_filters_by_id_prefix_text_and_tier(client):
    marker = uuid.uuid4().hex
    job = submit(client, piece="demo", tier=IDLE_TIER, instruction=f"find me {marker} 100%_sure")
    prefix = job["id"][:6]

    by_prefix = client.get(f"/api/jobs?id_prefix={prefix}").get_json()["items"]
    assert job["id"] in [j["id"] for j in by_prefix]
    assert all(j["id"].startswith(prefix) for j in by_prefix)
    hyphenated = client.get(f"/api/jobs?id_prefix={job['id'][:13]}").get_json()["items"]
    assert [j["id"] for j in hyphenated] == [job["id"]]
    by_text = client.get(f"/api/jobs?q={marker} 100%25_sure").get_json()["items"]
    assert [j["id"] for j in by_text] == [job["id"]]
    # % and _ are literal characters, not wildcards
    assert client.get(f"/api/jobs?q={marker} 1_0").get_json()["items"] == []
    by_tier = client.get(f"/api/jobs?tier={IDLE_TIER}&q={marker}").get_json()["items"]
    assert [j["id"] for j in by_tier] == [job["id"]]
    assert client.get(f"/api/jobs?tier=fast&q={marker}").get_json()["items"] == []


@pytest.mark.parametrize(
    "query", ["id_prefix=xyz", "id_prefix=", "id_prefix=" + "a" * 37, "q=", "q=" + "x" * 201]
)
def test_list_refuses_bad_filters(client, query):
    resp = client.get(f"/api/jobs?{query}")
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "invalid"


def test_workers_come_from_database_heartbeats(client, worker):
    def beating():
        body = client.get("/api/workers").get_json()
        return [h for h in body["heartbeats"] if h["pid"] == worker.process.pid]

    [beat] = wait_until(beating, timeout=60, message="the worker's heartbeat row")
    assert set(beat["queues"]) == {"fast", "auto", "quality", "reflection", "maintenance"}
    assert beat["concurrency"] == 8
    assert beat["stale"] is False and beat["in_flight"] >= 0
    assert beat["version"]
