"""A worker SIGKILLed while a dynamic parallel step's members run (wf-run-parallel:
a selector picks two pool members, at most two of the three members run at once).

The selector's answer is recorded with the fan-out, so the step is not asked again;
the members' plan lives in the parent run, so the killed members are re-run by the
recovery sweep on the other worker and the third member still waits its turn; no
model call that had returned is made again, and nothing completes twice.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.conftest import wait_until
from tests.fakellm import delay, text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure
from tests.piece_suite.runtime import select, step
from tests.piece_suite.scripted import ScriptedModel

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_a_killed_member_is_rerun_and_the_plan_carries_on(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(scratch_db, private_redis.url)
    first = stack.start()
    fake_llm.reset()  # what the start-up probes asked is not this test's traffic
    fake_llm.when(lambda r: r.kind == "parallel_select", text(select("tone", "facts")))
    for member in ("style", "facts"):
        # The first call hangs long enough for the kill; the redo answers at once.
        fake_llm.when(
            lambda r, m=member: r.movement == m and r.kind == "execute",
            delay(30.0, text("too late")),
            text(f"{member} reviewed"),
        )
    fake_llm.when(lambda r: r.kind == "judge_structured", text(step(1)))
    job = stack.submit(piece="wf-run-parallel", instruction="review a draft", max_attempts=1)
    wait_until(
        lambda: (
            {r.movement for r in fake_llm.chat_requests if r.kind == "execute"}
            >= {"style", "facts"}
        ),
        timeout=60,
        message="both first members to be in their Phase 1 call",
    )
    first.stop(sig=signal.SIGKILL)
    stack.worker("worker2", concurrency=4)

    stack.wait_all([job["id"]], timeout=150)
    counts = figure("worker SIGKILL mid dynamic parallel", [job["id"]], stack)
    assert counts["succeeded"] == 1 and counts["duplicated"] == 0

    calls = Counter(
        (r.movement, r.kind) for r in fake_llm.chat_requests if r.job == job["id"] and r.kind
    )
    assert calls[("review", "parallel_select")] == 1  # recorded before the kill: not asked again
    assert calls[("draft", "execute")] == 1
    assert calls[("style", "execute")] == 2 and calls[("facts", "execute")] == 2
    assert calls[("tone", "execute")] == 1
    members = stack.sql(
        "SELECT m.name, m.status FROM movement_runs m JOIN movement_runs p"
        " ON p.id = m.parent_run_id WHERE p.job_id = %s ORDER BY m.created_at, m.name",
        job["id"],
    )
    by_member: dict[str, list[str]] = {}
    for name, status in members:
        by_member.setdefault(name, []).append(status)
    assert by_member == {
        "style": ["timed_out", "completed"],
        "facts": ["timed_out", "completed"],
        "tone": ["completed"],
    }
    # The plan survived the kill: never more than two members open, tone queued last.
    opened = peak = completed = 0
    tone_after = None
    for e in stack.events(job["id"]):
        name = e["data"].get("member") or e["data"].get("movement")
        if e["kind"] in ("member_queued", "movement_retried") and name in by_member:
            opened += 1
            if name == "tone":
                tone_after = completed
        elif e["kind"] in ("movement_completed", "movement_timed_out") and name in by_member:
            opened -= 1
            completed += e["kind"] == "movement_completed"
        peak = max(peak, opened)
    assert peak == 2
    assert tone_after is not None and tone_after >= 1  # only once a member had ended
    job_view = stack.job(job["id"])
    top = [r["name"] for r in job_view["runs"] if r["parent_run_id"] is None]
    assert top == ["draft", "review"]


def test_a_parent_killed_while_it_judges_reads_its_members_again(
    make_stack, scratch_db, private_redis, fake_llm
):
    # The `parallel` piece with alpha matching nothing: the parent judges the aggregate
    # with an AI judge (fallback_all). That call hangs; the worker dies; the re-run of
    # the parent must still see the members, which belong to it from then on.
    stack = make_stack(scratch_db, private_redis.url)
    first = stack.start()
    fake_llm.reset()  # what the start-up probes asked is not this test's traffic
    model = ScriptedModel({"alpha": ["x"]})
    fake_llm.when(
        lambda r: r.movement == "reviewers" and r.kind == "fallback_all",
        delay(30.0, text("[JUDGE:1]")),
        text("[JUDGE:1]"),
    )
    fake_llm.respond_with(lambda r: model.reply(r.movement or "", r.run or "", r.kind or ""))
    job = stack.submit(piece="parallel", instruction="review", max_attempts=1)
    wait_until(
        lambda: any(
            r.kind == "fallback_all" and r.movement == "reviewers" for r in fake_llm.chat_requests
        ),
        timeout=60,
        message="the parent's judge call",
    )
    first.stop(sig=signal.SIGKILL)
    stack.worker("worker2", concurrency=4)

    stack.wait_all([job["id"]], timeout=150)
    counts = figure("worker SIGKILL while a parallel parent judges", [job["id"]], stack)
    assert counts["succeeded"] == 1 and counts["duplicated"] == 0
    judged = [
        r
        for r in fake_llm.chat_requests
        if r.job == job["id"] and r.movement == "reviewers" and r.kind == "fallback_all"
    ]
    assert len(judged) == 2
    assert "## alpha" in judged[1].last_user_message and "## beta" in judged[1].last_user_message
    view = stack.job(job["id"])
    parents = [r for r in view["runs"] if r["name"] == "reviewers"]
    assert [p["status"] for p in parents] == ["timed_out", "completed"]
    members = [r for r in view["runs"] if r["parent_run_id"] is not None]
    assert {r["parent_run_id"] for r in members} == {parents[1]["id"]}
    assert [r["name"] for r in view["runs"] if r["parent_run_id"] is None] == [
        "prepare",
        "reviewers",  # timed out
        "reviewers",  # its re-run
        "finish",
    ]
