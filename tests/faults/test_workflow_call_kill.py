"""A worker SIGKILLed while a called workflow runs (wf-run-call: review calls
wf-run-callee, whose check hangs in its Phase 1 call).

The calling run waits in PostgreSQL for its child job, so the kill only loses the
child's check: the recovery sweep re-runs it on the other worker, the child completes,
its end wakes the caller, and the caller goes on. There is still exactly one child for
the call, and nothing completes twice.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.conftest import wait_until
from tests.fakellm import delay, text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure
from tests.piece_suite.runtime import Ask, Say, default
from tests.piece_suite.scripted import ScriptedModel

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_a_worker_killed_while_the_child_runs_leaves_one_child(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(scratch_db, private_redis.url)
    first = stack.start()
    fake_llm.reset()  # what the start-up probes asked is not this test's traffic
    # The check's first call hangs long enough for the kill; its redo answers at once.
    fake_llm.when(
        lambda r: r.movement == "check" and r.kind == "execute",
        delay(30.0, text("too late")),
        text("Checked."),
    )
    visits = ScriptedModel()

    def respond(rec):
        if not rec.kind:
            return None
        visit, _ = visits.visit(rec.movement or "", rec.run or "")
        said = default(Ask(rec.movement or "", rec.kind, rec.name, visit, rec.last_user_message))
        return text(said.text if isinstance(said, Say) else said) if said is not None else None

    fake_llm.respond_with(respond)
    job = stack.submit(piece="wf-run-call", instruction="write a note", max_attempts=1)
    wait_until(
        lambda: any(r.movement == "check" for r in fake_llm.chat_requests),
        timeout=60,
        message="the called workflow's check to be in its Phase 1 call",
    )
    first.stop(sig=signal.SIGKILL)
    stack.worker("worker2", concurrency=4)

    stack.wait_all([job["id"]], timeout=150)
    counts = figure("worker SIGKILL while a called workflow runs", [job["id"]], stack)
    assert counts["succeeded"] == 1 and counts["duplicated"] == 0

    view = stack.job(job["id"])
    assert [r["name"] for r in view["runs"]] == ["draft", "review", "publish"]
    (review,) = [r for r in view["runs"] if r["name"] == "review"]
    children = stack.sql("SELECT id, status FROM jobs WHERE call_run_id = %s", review["id"])
    assert len(children) == 1 and children[0][1] == "succeeded"
    assert [c["id"] for c in view["children"]] == [str(children[0][0])]
    child = stack.job(str(children[0][0]))
    assert [(r["name"], r["status"]) for r in child["runs"]] == [
        ("check", "timed_out"),
        ("check", "completed"),
        ("sign-off", "completed"),
    ]
    calls = Counter((r.movement, r.kind) for r in fake_llm.chat_requests if r.kind)
    assert calls[("check", "execute")] == 2  # the killed call and its redo
    assert calls[("draft", "execute")] == 1 and calls[("publish", "execute")] == 1
    kinds = [e["kind"] for e in stack.events(job["id"]) if e["kind"].startswith("call_")]
    assert kinds == ["call_started", "call_finished"]
