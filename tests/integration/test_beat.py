"""The beat sweeps against a real stack: a lease that expires with no re-run budget
left fails the attempt and job-level retry takes over; a publish that never happened
is re-sent by the reconciler."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import wait_until
from tests.fakellm import text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures

pytestmark = pytest.mark.integration


def test_expired_lease_without_budget_fails_the_attempt_then_retries(
    make_stack, scratch_db, private_redis, llm
):
    stack = make_stack(scratch_db, private_redis.url, RUN_RETRY_BUDGET=0)
    stack.api()
    doomed = stack.worker("worker1")
    stack.beat()
    llm.latency = 2.0

    job = stack.submit(piece="demo", max_attempts=2)["id"]
    wait_until(lambda: llm.in_flight >= 1, timeout=30, message="the first call in flight")
    doomed.stop(sig=signal.SIGKILL)
    llm.latency = 0.0
    stack.worker("worker2")

    done = stack.wait_all([job], timeout=90)
    assert done[job] == "succeeded"
    detail = stack.job(job)
    assert detail["attempt"] == 2
    first = [r for r in detail["runs"] if r["attempt"] == 1]
    assert [(r["name"], r["status"]) for r in first] == [("draft", "timed_out")]
    kinds = [e["kind"] for e in stack.events(job)]
    assert "movement_timed_out" in kinds
    assert "movement_retried" not in kinds  # the budget was 0
    assert kinds.index("movement_timed_out") < kinds.index("job_retry_scheduled")


def test_expired_lease_with_budget_reruns_the_movement(make_stack, scratch_db, private_redis, llm):
    stack = make_stack(scratch_db, private_redis.url)  # RUN_RETRY_BUDGET defaults to 1
    stack.api()
    doomed = stack.worker("worker1")
    stack.beat()
    llm.latency = 2.0

    job = stack.submit(piece="demo", max_attempts=1)["id"]
    wait_until(lambda: llm.in_flight >= 1, timeout=30, message="the first call in flight")
    doomed.stop(sig=signal.SIGKILL)
    llm.latency = 0.0
    stack.worker("worker2")

    done = stack.wait_all([job], timeout=90)
    assert done[job] == "succeeded"
    runs = stack.job(job)["runs"]
    assert [(r["name"], r["status"], r["attempt"]) for r in runs][:2] == [
        ("draft", "timed_out", 1),
        ("draft", "completed", 1),
    ]


def test_reconcile_resends_a_run_whose_message_was_lost(make_stack, scratch_db, private_redis, llm):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    # Submitted with no worker and the message then lost with the broker's data.
    job = stack.submit(piece="demo")["id"]
    private_redis.flushall()
    stack.worker()
    stack.beat()

    done = stack.wait_all([job], timeout=60)
    assert done[job] == "succeeded"
    assert len(llm.calls_for(stack.job(job)["runs"][0]["id"])) == 1


def test_reconcile_joins_a_parallel_movement_whose_last_sibling_died_before_joining(
    make_stack, scratch_db, private_redis, llm
):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    # No worker serves `quality`, where the beta sub-movement runs.
    stack.worker(queues="fast,auto,reflection,maintenance")
    stack.beat()
    llm.when(lambda r: r.movement == "alpha", text("fine"))

    job = stack.submit(piece="parallel", tier="auto")["id"]

    def alpha_done():
        runs = {r["name"]: r["status"] for r in stack.job(job)["runs"]}
        return runs.get("alpha") == "completed" and runs.get("beta") == "pending"

    wait_until(alpha_done, timeout=60, message="alpha to finish while beta waits")
    # The crash point: beta's worker completed its run and died before the join.
    stack.sql(
        "UPDATE movement_runs SET status = 'completed', output = 'fine', matched_rule = 0, "
        "matched_condition = 'ok', finished_at = now() WHERE job_id = %s AND name = 'beta'",
        job,
    )

    done = stack.wait_all([job], timeout=60)
    assert done[job] == "succeeded"
    runs = stack.job(job)["runs"]
    parent = next(r for r in runs if r["name"] == "reviewers")
    assert (parent["status"], parent["next"]) == ("completed", "finish")
    assert [r["name"] for r in runs if r["parent_run_id"] is None] == [
        "prepare",
        "reviewers",
        "finish",
    ]
    assert not [r for r in llm.requests if r.movement == "beta"]
