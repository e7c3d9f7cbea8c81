"""Fault 2: Redis restarts empty (or is flushed) mid-run; fault 4: a visibility timeout
shorter than a movement makes the broker redeliver messages that are still running."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure

pytestmark = [pytest.mark.faults, pytest.mark.integration]

JOBS = 10


@pytest.mark.parametrize("how", ["restart", "flushall"])
def test_redis_loses_every_message_and_every_job_still_finishes(
    make_stack, scratch_db, private_redis, fake_llm, how
):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    stack.worker(concurrency=4)  # fewer slots than jobs: some messages wait in Redis
    stack.beat()
    fake_llm.latency = 1.0

    ids = [stack.submit(piece="demo", instruction=f"job {n}")["id"] for n in range(JOBS)]
    wait_until(lambda: fake_llm.in_flight >= 2, timeout=30, message="calls in flight")
    if how == "restart":
        private_redis.restart()
    else:
        private_redis.flushall()

    stack.wait_all(ids, timeout=150)
    counts = figure(f"redis {how}", ids, stack)

    assert counts == {
        "submitted": JOBS,
        "succeeded": JOBS,
        "failed": 0,
        "lost": 0,
        "duplicated": 0,
    }
    assert max(fake_llm.max_concurrent_by_run().values()) == 1


def test_visibility_timeout_shorter_than_a_movement(
    make_stack, scratch_db, private_redis, fake_llm
):
    # Movements take 8 s; the broker may hand unacked messages out again after 1 s.
    stack = make_stack(scratch_db, private_redis.url, BROKER_VISIBILITY_TIMEOUT=1, LLM_TIMEOUT=30)
    first = stack.start()
    fake_llm.latency = 8.0

    ids = [stack.submit(piece="demo", instruction=f"job {n}")["id"] for n in range(6)]
    wait_until(lambda: fake_llm.in_flight >= 4, timeout=30, message="calls in flight")
    # A consumer that starts restores every unacked message older than the visibility
    # timeout (Kombu's restore_visible): copies of the runs worker1 is executing now.
    second = stack.worker("worker2", concurrency=4)
    stack.wait_all(ids, timeout=150)
    counts = figure("visibility timeout", ids, stack)

    assert counts == {"submitted": 6, "succeeded": 6, "failed": 0, "lost": 0, "duplicated": 0}
    assert max(fake_llm.max_concurrent_by_run().values()) == 1
    # every phase of every run reached the LLM exactly once, though some runs were
    # delivered twice (a movement makes one call per phase: execute, then a judgment)
    calls = [(r.run, r.kind) for r in fake_llm.chat_requests]
    assert len(calls) == len(set(calls))
    log = first.log_path.read_text() + second.log_path.read_text()
    assert log.count("already claimed or no longer pending") >= 1
