"""Fault 1: SIGKILL a worker in the middle of movements, then start a new one."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import wait_until
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure

pytestmark = [pytest.mark.faults, pytest.mark.integration]

JOBS = 12


def test_sigkill_mid_movement_every_job_succeeds_once(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(scratch_db, private_redis.url)
    stack.api()
    first = stack.worker("worker1", concurrency=8)
    stack.beat()
    fake_llm.latency = 2.0

    ids = [stack.submit(piece="demo", instruction=f"job {n}")["id"] for n in range(JOBS)]
    # Kill while several LLM calls are in flight (their runs are claimed and leased).
    wait_until(lambda: fake_llm.in_flight >= 4, timeout=30, message="calls in flight")
    claimed = stack.sql("SELECT count(*) FROM movement_runs WHERE status = 'running'")[0][0]
    first.stop(sig=signal.SIGKILL)
    stack.worker("worker2", concurrency=8)

    stack.wait_all(ids, timeout=150)
    counts = figure("worker SIGKILL", ids, stack)

    assert claimed >= 4
    assert counts == {
        "submitted": JOBS,
        "succeeded": JOBS,
        "failed": 0,
        "lost": 0,
        "duplicated": 0,
    }
    # The killed runs were recovered by the lease sweep, not run twice at once.
    timed_out = stack.sql("SELECT count(*) FROM movement_runs WHERE status = 'timed_out'")[0][0]
    assert timed_out >= 1
    assert max(fake_llm.max_concurrent_by_run().values()) == 1
