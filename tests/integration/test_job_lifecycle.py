"""A job from submission to its end, on real PostgreSQL, Redis and a worker process."""

from __future__ import annotations

import time

import pytest

from tests.conftest import IDLE_TIER, wait_until
from tests.fakellm import delay, text
from tests.integration.helpers import (
    events,
    get_job,
    judgment,
    movement,
    structured_step,
    submit,
    wait_for_status,
)

pytestmark = pytest.mark.integration


def test_demo_job_succeeds_with_runs_and_events_in_order(client, worker, llm):
    job = submit(client, instruction="summarise the design doc", piece="demo")
    assert job["status"] == "queued"

    done = wait_for_status(client, job["id"])

    assert done["status"] == "succeeded", done
    assert [(r["name"], r["status"], r["next"]) for r in done["runs"]] == [
        ("draft", "completed", "review"),
        ("review", "completed", "COMPLETE"),
    ]
    assert [r["iteration"] for r in done["runs"]] == [1, 2]
    assert done["result"] == done["runs"][-1]["output"]
    assert done["tokens_in"] == sum(r["tokens_in"] for r in done["runs"]) > 0
    kinds = [e["kind"] for e in events(client, job["id"])]
    # draft has one rule (chosen without a judgment call); review's two rules are judged
    # in Phase 3, whose structured answer picks the first.
    assert kinds == [
        "job_submitted",
        "movement_started",
        "phase_started",
        "phase_completed",
        "judgment",
        "movement_completed",
        "movement_started",
        "phase_started",
        "phase_completed",
        "phase_started",
        "phase_completed",
        "judgment",
        "movement_completed",
        "job_succeeded",
    ]
    judgments = [e["data"] for e in events(client, job["id"]) if e["kind"] == "judgment"]
    assert [(j["movement"], j["method"], j["rule"]) for j in judgments] == [
        ("draft", "auto_select", 1),
        ("review", "structured_output", 1),
    ]
    # the review movement saw the draft's output as its previous response
    prompts = [r.json["messages"][-1]["content"] for r in llm.chat_requests]
    assert done["runs"][0]["output"] in prompts[1]
    assert "## Previous Response" in prompts[1]


def test_rule_hop_follows_the_status_judgment(client, worker, llm):
    # review's judgment says "Needs changes" (rule 2) once, sending the job back to draft,
    # then approves (rule 1).
    llm.when(judgment("review"), structured_step(2), structured_step(1))

    done = wait_for_status(client, submit(client, piece="demo")["id"])

    assert done["status"] == "succeeded"
    assert [r["name"] for r in done["runs"]] == ["draft", "review", "draft", "review"]
    assert [r["movement_iteration"] for r in done["runs"]] == [1, 1, 2, 2]


def test_duplicate_delivery_calls_the_llm_once(client, worker, llm, db_session):
    from app.contract import send_run

    llm.when(movement("draft"), delay(1.0, text("draft done")))
    job = submit(client, piece="demo")
    first_run = wait_until(
        lambda: (get_job(client, job["id"])["runs"] or [None])[0], message="the first run row"
    )
    # A second copy of the same message, as a broker redelivery would produce.
    send_run(first_run["id"], job_id=job["id"], movement="draft", queue=job["tier"])
    send_run(first_run["id"], job_id=job["id"], movement="draft", queue=job["tier"])

    done = wait_for_status(client, job["id"])
    time.sleep(0.5)  # give a stray duplicate the chance to (wrongly) call the LLM

    assert done["status"] == "succeeded"
    assert len(llm.calls_for(first_run["id"])) == 1
    assert len(done["runs"]) == 2


def test_cancel_a_queued_job(client, worker, llm):
    job = submit(client, piece="demo", tier=IDLE_TIER)

    resp = client.post(f"/api/jobs/{job['id']}/cancel")

    assert resp.status_code == 200
    assert resp.get_json()["status"] == "cancelled"
    detail = get_job(client, job["id"])
    assert [r["status"] for r in detail["runs"]] == ["cancelled"]
    assert "job_cancelled" in [e["kind"] for e in events(client, job["id"])]


def test_cancel_a_running_job_discards_the_inflight_output(client, worker, llm):
    llm.when(movement("draft"), delay(2.0, text("late draft")))
    job = submit(client, piece="demo")
    wait_until(lambda: llm.requests, message="the draft LLM call to start")

    resp = client.post(f"/api/jobs/{job['id']}/cancel")
    assert resp.status_code == 200

    time.sleep(3.0)  # the slow LLM call returns; the worker must not resurrect the job
    detail = get_job(client, job["id"])
    assert detail["status"] == "cancelled"
    assert [(r["name"], r["status"], r["output"]) for r in detail["runs"]] == [
        ("draft", "cancelled", None)
    ]


def test_cancelling_a_finished_job_is_a_conflict(client, worker, llm):
    done = wait_for_status(client, submit(client, piece="demo")["id"])

    resp = client.post(f"/api/jobs/{done['id']}/cancel")

    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "illegal_state"
    assert get_job(client, done["id"])["status"] == "succeeded"
