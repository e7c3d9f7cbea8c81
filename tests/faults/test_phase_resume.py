"""A worker killed between phases: the redelivered run resumes after its last finished
phase, so no model call that already returned is made again (DESIGN.md "phase")."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.conftest import wait_until
from tests.fakellm import delay, text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_a_killed_report_phase_does_not_repeat_phase_1(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(scratch_db, private_redis.url)
    first = stack.start()
    fake_llm.reset()  # what the start-up probes asked is not this test's traffic
    # outline's report call hangs long enough for the kill; every later call is quick.
    fake_llm.when(
        lambda r: r.movement == "outline" and r.kind == "report",
        delay(30.0, text("too late")),
        text("# Outline\n1. intro"),
    )
    job = stack.submit(piece="reports", instruction="a short guide", max_attempts=1)
    wait_until(
        lambda: any(r.kind == "report" for r in fake_llm.chat_requests),
        timeout=60,
        message="outline's report call",
    )
    first.stop(sig=signal.SIGKILL)
    stack.worker("worker2", concurrency=4)

    stack.wait_all([job["id"]], timeout=150)
    counts = figure("worker SIGKILL between phases", [job["id"]], stack)
    assert counts["succeeded"] == 1 and counts["duplicated"] == 0

    calls = [r for r in fake_llm.chat_requests if r.job == job["id"]]
    by_phase = Counter((r.movement, r.kind) for r in calls)
    assert by_phase[("outline", "execute")] == 1  # Phase 1 was not repeated
    assert by_phase[("outline", "report")] == 2  # the interrupted call, then its redo
    outline = stack.sql(
        "SELECT status FROM movement_runs WHERE job_id = %s AND name = 'outline'"
        " ORDER BY created_at",
        job["id"],
    )
    assert [row[0] for row in outline] == ["timed_out", "completed"]
