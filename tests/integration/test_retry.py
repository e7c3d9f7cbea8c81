"""Job-level retry with a handoff, and the unreachable-endpoint hand-back, end to end.

Each test runs a private stack (API, worker, beat as subprocesses) with a short
backoff list so retries happen in about a second.
"""

from __future__ import annotations

import pytest

from tests.conftest import free_port, wait_until
from tests.fakellm import error, text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.integration.helpers import movement

pytestmark = pytest.mark.integration

HANDOFF_TITLE = "Handoff from the previous attempt"


def test_failed_attempt_retries_with_handoff_in_the_next_prompt(
    make_stack, scratch_db, private_redis, llm
):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    stack.worker()
    stack.beat()
    # Attempt 1: draft's LLM call gets 500s past the retry policy (3 tries), so the
    # attempt fails; attempt 2 succeeds.
    llm.when(movement("draft"), error(500), error(500), error(500), text("Draft."))

    job = stack.submit(piece="demo", max_attempts=3)
    done = stack.wait_all([job["id"]], timeout=60)

    assert done[job["id"]] == "succeeded", stack.events(job["id"])
    final = stack.job(job["id"])
    assert final["attempt"] == 2
    attempts = sorted({(r["attempt"], r["name"], r["status"]) for r in final["runs"]})
    assert (1, "draft", "failed") in attempts
    assert (2, "draft", "completed") in attempts and (2, "review", "completed") in attempts
    kinds = [e["kind"] for e in stack.events(job["id"])]
    assert kinds.index("job_retry_scheduled") < kinds.index("job_retry_started")
    assert kinds.count("job_retry_started") == 1
    # The prompt of attempt 2, as the fake endpoint received it, carries the handoff.
    second = [
        r
        for r in llm.requests
        if r.job == job["id"] and r.movement == "draft" and HANDOFF_TITLE in r.prompt
    ]
    assert second, "no prompt of attempt 2 carried the handoff"
    assert "Attempt 1 of 3 failed." in second[0].prompt
    assert "HTTP 500" in second[0].prompt
    handoffs = stack.sql(
        "SELECT attempt, length(content) FROM job_artifacts WHERE job_id = %s AND kind = 'handoff'",
        job["id"],
    )
    assert [a for a, _ in handoffs] == [1]
    assert all(n <= 4000 for _, n in handoffs)


def test_out_of_attempts_fails_with_summary(make_stack, scratch_db, private_redis, llm):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    stack.worker()
    stack.beat()
    llm.when(movement("draft"), error(500))  # the last reply repeats: always 500

    job = stack.submit(piece="demo", max_attempts=2)
    stack.wait_all([job["id"]], timeout=60)

    final = stack.job(job["id"])
    assert final["status"] == "failed"
    assert final["attempt"] == 2
    assert final["error_summary"].startswith("attempt 2 of 2 failed: LLM call failed")
    assert "HTTP 500" in final["abort_reason"]
    kinds = [e["kind"] for e in stack.events(job["id"])]
    assert kinds.count("job_retry_scheduled") == 1
    assert kinds[-1] == "job_failed"


def test_a_piece_abort_retries_by_default_with_the_handoff(
    make_stack, scratch_db, private_redis, llm
):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    stack.worker()
    stack.beat()
    # Attempt 1: draft answers without a tag and the judge finds no rule: the attempt
    # aborts. Attempt 2 answers properly. (Judge calls carry the movement's header too,
    # and the first matching rule wins, so the judge's rule goes first.)
    llm.when(lambda r: r.headers.get("X-Legato-Purpose") == "judge", text("none fits"))
    llm.when(movement("draft"), text("no tag here"), text("Draft."))

    job = stack.submit(piece="demo", max_attempts=2)
    done = stack.wait_all([job["id"]], timeout=60)

    assert done[job["id"]] == "succeeded", stack.events(job["id"])
    assert stack.job(job["id"])["attempt"] == 2
    second = [
        r
        for r in llm.requests
        if r.job == job["id"] and r.movement == "draft" and HANDOFF_TITLE in r.prompt
    ]
    assert second and 'no rule of "draft" matched' in second[0].prompt


def test_piece_abort_is_final_when_retry_on_abort_is_off(
    make_stack, scratch_db, private_redis, llm
):
    stack = make_stack(scratch_db, private_redis.url, RETRY_ON_ABORT="false")
    stack.api()
    stack.worker()
    llm.when(movement("draft"), text("no tag here"))
    llm.when(lambda r: r.headers.get("X-Legato-Purpose") == "judge", text("none fits"))

    job = stack.submit(piece="demo", max_attempts=3)
    stack.wait_all([job["id"]], timeout=60)

    final = stack.job(job["id"])
    assert (final["status"], final["attempt"]) == ("failed", 1)


def test_unreachable_endpoint_requeues_without_consuming_an_attempt(
    make_stack, scratch_db, private_redis, llm
):
    # The tier `fast` points at a closed port: every call is refused (unreachable).
    dead = f"http://127.0.0.1:{free_port()}/v1"
    stack = make_stack(scratch_db, private_redis.url, LLM_FAST_BASE_URL=dead)
    stack.api()
    stack.worker()

    job = stack.submit(piece="demo", tier="fast", max_attempts=1)

    def requeued():
        kinds = [e["kind"] for e in stack.events(job["id"])]
        return "job_requeued" in kinds

    wait_until(requeued, timeout=60, message="the job to be handed back")
    detail = stack.job(job["id"])
    assert detail["status"] == "queued"
    assert detail["attempt"] == 1
    assert [r["status"] for r in detail["runs"]] == ["failed", "pending"]
    health = stack.sql("SELECT healthy FROM llm_endpoint_health WHERE tier = 'fast'")
    assert health == [(False,)]

    # The endpoint comes back: the probe marks it healthy and re-sends the parked run,
    # and the job succeeds on its first (and only) attempt.
    stack.stop()
    stack.env["LLM_FAST_BASE_URL"] = llm.url
    stack.api()
    stack.worker()
    stack.beat()
    done = stack.wait_all([job["id"]], timeout=60)
    assert done[job["id"]] == "succeeded"
    final = stack.job(job["id"])
    assert final["attempt"] == 1
    assert stack.sql("SELECT healthy FROM llm_endpoint_health WHERE tier = 'fast'") == [(True,)]


def test_a_job_waiting_to_retry_can_be_cancelled(make_stack, scratch_db, private_redis, llm):
    import requests

    stack = make_stack(scratch_db, private_redis.url, RETRY_BACKOFF_SECONDS="3600")
    api = stack.api()
    stack.worker()
    stack.beat()
    llm.when(movement("draft"), error(500))

    job = stack.submit(piece="demo", max_attempts=3)["id"]
    stack.wait_all([job], statuses={"retry"}, timeout=60)
    waiting = stack.job(job)
    assert waiting["next_retry_at"] is not None
    assert waiting["current_activity"].startswith("retrying in 3600s")

    resp = requests.post(f"{api}/api/jobs/{job}/cancel", timeout=10)

    assert resp.status_code == 200
    assert stack.job(job)["status"] == "cancelled"
    again = requests.post(f"{api}/api/jobs/{job}/cancel", timeout=10)
    assert again.status_code == 409
