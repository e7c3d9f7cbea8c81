"""Fault 6: two beat processes at once. No job is reflected twice, no retry is
dispatched twice (the sweeps are compare-and-set; see tasks/maintenance.py)."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until
from tests.fakellm import error
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure

pytestmark = [pytest.mark.faults, pytest.mark.integration]

JOBS = 8


def test_two_beats_no_double_reflection_no_double_retry(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(
        scratch_db,
        private_redis.url,
        REFLECTION_ENABLED="true",
        BEAT_DISPATCH_RETRIES_SECONDS="0.2",
        BEAT_REFLECTIONS_SECONDS="0.3",
    )
    stack.api()
    stack.worker(concurrency=16)
    stack.beat("beat1")
    stack.beat("beat2")
    # Every "flaky" job fails its first attempt (500s past the call's retry policy) and
    # goes through job-level retry; its second attempt (prompted with the handoff) works.
    fake_llm.when(
        lambda r: r.movement == "draft" and "flaky" in r.prompt and "## Retry Note" not in r.prompt,
        error(500),
    )

    ids = [
        stack.submit(piece="demo", instruction=f"{'flaky' if n % 2 else 'steady'} job {n}")["id"]
        for n in range(JOBS)
    ]
    stack.wait_all(ids, timeout=120)

    def reflections_done():
        rows = stack.sql(
            "SELECT count(*) FROM jobs WHERE task_kind = 'reflection' "
            "AND status IN ('succeeded', 'failed') AND parent_job_id::text = ANY(%s)",
            ids,
        )
        return rows[0][0] >= JOBS

    wait_until(reflections_done, timeout=90, message="a reflection of every job")
    counts = figure("two beats", ids, stack)
    assert counts == {
        "submitted": JOBS,
        "succeeded": JOBS,
        "failed": 0,
        "lost": 0,
        "duplicated": 0,
    }

    per_job = dict(
        stack.sql(
            "SELECT parent_job_id::text, count(*) FROM jobs WHERE task_kind = 'reflection' "
            "GROUP BY parent_job_id"
        )
    )
    assert {i: per_job.get(i) for i in ids} == {i: 1 for i in ids}
    # never a reflection of a reflection
    assert len(per_job) == JOBS
    # one start per retried attempt, and one first run per attempt
    starts = stack.sql(
        "SELECT job_id::text, data->>'attempt', count(*) FROM job_events "
        "WHERE kind = 'job_retry_started' GROUP BY 1, 2"
    )
    assert len(starts) == JOBS // 2
    assert all(n == 1 for _, _, n in starts)
    firsts = stack.sql(
        "SELECT job_id, attempt, count(*) FROM movement_runs WHERE iteration = 1 "
        "AND parent_run_id IS NULL AND job_id::text = ANY(%s) GROUP BY 1, 2",
        ids,
    )
    assert all(n == 1 for _, _, n in firsts)
    # the reflections became notes for the owner
    notes = stack.sql("SELECT count(*) FROM notes WHERE owner_id = 'local'")[0][0]
    assert notes >= JOBS
