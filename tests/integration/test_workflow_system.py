"""kind: system steps, delay_before_ms and TAKT's auto-improvement-loop on real workers.

What only a real run shows: the state a system step and a structured planner leave is
read back by later claims (the routes and placeholders use it), an enqueue_task effect
submits exactly one job however often its run's message arrives, a delayed run is never
claimed before its not_before whatever re-sends it, an attempt that moves to retry
cancels the workflow it called, and TAKT's builtin polling loop runs to its end.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from tests.conftest import wait_until
from tests.fakellm import delay, text
from tests.integration.helpers import events, get_job, submit, wait_for_status
from tests.integration.test_workflow_calls import _call_run, _scripted, takt_library  # noqa: F401
from tests.piece_suite.scripted import ScriptedModel

pytestmark = pytest.mark.integration


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _runs_named(client, job_id: str, name: str) -> list[dict]:
    return [r for r in get_job(client, job_id)["runs"] if r["name"] == name]


def _pending(client, job_id: str, name: str) -> dict:
    return wait_until(
        lambda: next(
            (r for r in _runs_named(client, job_id, name) if r["status"] == "pending"), None
        ),
        timeout=60,
        message=f"{name} to wait for its delay",
    )


def _resend_early(app, run: dict, job_id: str) -> None:
    """The run's message again, twice, and the sweep that re-sends pending runs."""
    from app.contract import send_run
    from tasks.maintenance import reconcile_once

    for _ in range(2):
        send_run(run["id"], job_id=job_id, movement=run["name"], queue=run["tier"])
    with app.app_context():
        reconcile_once(older_than=0)


def _enqueued(app, run_id: str) -> list[uuid.UUID]:
    from app.db import db
    from app.models import Job

    with app.app_context():
        rows = db.session.execute(
            select(Job.id).where(Job.effect_run_id == uuid.UUID(run_id))
        ).scalars()
        return list(rows)


def test_system_steps_route_on_state_and_enqueue_one_job(app, client, worker, llm):
    plan = json.dumps({"action": "enqueue", "task": "Write the follow-up note."})
    _scripted(llm, (lambda a: a.movement == "plan" and a.kind == "execute", plan))
    job = submit(client, piece="wf-run-system", instruction="tidy the docs", max_attempts=1)
    queue = _pending(client, job["id"], "queue")
    _resend_early(app, queue, job["id"])  # the effect's run, delivered again and again
    done = wait_for_status(client, job["id"], timeout=120)

    assert done["status"] == "succeeded", done["abort_reason"]
    assert [r["name"] for r in done["runs"]] == ["look", "plan", "queue", "report"]
    look, planned, queued, report = done["runs"]
    assert look["output"] == 'System step "look" completed.'
    assert look["matched_condition"].startswith("when(context.look.task.exists == true")
    context = look["state"]["context"]
    assert context["task"] == {"exists": True, "body": "tidy the docs"}
    assert context["prs"] == [] and context["issue"] == {"exists": False}
    assert context["queue"]["exists"] is not None and "pending_count" in context["queue"]
    assert planned["state"] == {
        "structured": {"action": "enqueue", "task": "Write the follow-up note."}
    }
    # The planner's prompt had the context filled in by the claim.
    prompt = next(r for r in llm.chat_requests if r.movement == "plan" and r.kind == "execute")
    assert "Plan one follow-up for: tidy the docs" in prompt.last_user_message
    assert "Open pull requests: 0." in prompt.last_user_message

    # Exactly one job, keyed by the run, whatever the redeliveries and the sweep did.
    (child_id,) = _enqueued(app, queued["id"])
    effect = queued["state"]["effect"]["enqueue_task"]
    assert effect["success"] is True and effect["job_id"] == str(child_id)
    assert effect["ignored"] == ["issue"] and effect["issueCreated"] is False
    assert _at(queued["started_at"]) >= _at(queued["not_before"])
    child = wait_for_status(client, str(child_id), timeout=60)
    assert (child["piece_name"], child["task_kind"], child["status"]) == (
        "wf-run-enqueued",
        "enqueued",
        "succeeded",
    )
    assert child["instruction"] == "Write the follow-up note."
    assert child["effect_run_id"] == queued["id"] and child["parent_job_id"] is None
    said = next(r for r in llm.chat_requests if r.movement == "report" and r.kind == "execute")
    assert "Say what was queued: wf-run-enqueued." in said.last_user_message
    kinds = [e["kind"] for e in events(client, job["id"])]
    assert kinds.count("task_enqueued") == 1 and kinds.count("step_delayed") == 1
    assert report["status"] == "completed"


def test_a_delayed_step_is_never_claimed_before_its_time(app, client, worker, llm):
    _scripted(llm)
    job = submit(client, piece="wf-run-delay", instruction="wait a little", max_attempts=1)
    later = _pending(client, job["id"], "later")
    _resend_early(app, later, job["id"])
    done = wait_for_status(client, job["id"], timeout=120)

    assert done["status"] == "succeeded", done["abort_reason"]
    assert [r["name"] for r in done["runs"]] == ["first", "later", "last"]
    for run in done["runs"][1:]:
        assert _at(run["started_at"]) >= _at(run["not_before"])
    log = events(client, job["id"])
    delayed = [
        (e["data"]["movement"], e["data"]["delay_ms"]) for e in log if e["kind"] == "step_delayed"
    ]
    # `last` asks ten minutes; the deployment caps it (STEP_DELAY_MAX_MS=1500 in tests).
    assert delayed == [("later", 1000), ("last", 1500)]
    order = [
        (e["kind"], e["data"].get("movement"))
        for e in log
        if e["kind"] in ("step_delayed", "movement_started")
    ]
    assert order == [
        ("movement_started", "first"),
        ("step_delayed", "later"),
        ("movement_started", "later"),
        ("step_delayed", "last"),
        ("movement_started", "last"),
    ]


def test_an_attempt_moving_to_retry_cancels_the_workflow_it_called(app, client, worker, llm):
    from app.ledger import fail_attempt, unit_of_work

    llm.when(
        lambda r: r.movement == "check" and r.kind == "execute",
        delay(30.0, text("Checked.")),
        text("Checked."),
    )
    _scripted(llm)
    job = submit(client, piece="wf-run-call", instruction="write a note", max_attempts=2)
    _call_run(client, job["id"])
    child_id = get_job(client, job["id"])["children"][0]["id"]
    with app.app_context(), unit_of_work(uuid.UUID(job["id"])) as work:
        assert fail_attempt(work, uuid.UUID(job["id"]), "the attempt failed", retry=True) == "retry"
    child = wait_for_status(client, child_id, timeout=60)
    llm.release()

    assert child["status"] == "cancelled"
    assert child["abort_reason"] == f"caller job {job['id']} attempt 1 moved to retry"
    caller = get_job(client, job["id"])
    assert caller["status"] in ("retry", "queued", "running", "succeeded")
    assert [r["status"] for r in caller["runs"] if r["name"] == "review" and r["attempt"] == 1] == [
        "cancelled"
    ]


def test_takt_auto_improvement_loop_runs_to_its_end(app, client, worker, llm, takt_library):  # noqa: F811
    """No forge: no pull request or issue to pick, so the loop plans a fresh improvement,
    enqueues it as a job (takt-default), waits while that job is open, scans again, and
    ends when the planner answers outside its schema (TAKT fails the step)."""
    from app.job_actions import cancel_job
    from app.job_actions import submit as submit_piece

    plan = {
        "action": "enqueue_new_task",
        "title": "Fix the flaky retry",
        "type": "bug",
        "scope": "engine",
        "summary": "Retries sometimes run twice.",
        "goals": ["Run each retry once"],
        "acceptance_criteria": ["A retry runs once", "A test proves it"],
        "labels": [],
        "issue": {"create": True},
    }
    visits = ScriptedModel()

    def respond(rec):
        if rec.movement == "plan_fresh_improvement" and rec.kind == "execute":
            visit, _ = visits.visit(rec.movement, rec.run or "")
            return text(json.dumps(plan if visit == 1 else {**plan, "action": "stop"}))
        return None

    llm.respond_with(respond)
    owner = f"loop-{uuid.uuid4().hex[:8]}"  # its own queue: no other job counts
    with app.app_context():
        job_id = str(
            submit_piece(
                piece=takt_library.load("auto-improvement-loop"),
                owner_id=owner,
                instruction="keep legato improving",
                tier="auto",
                max_attempts=1,
                visibility="public",
            )
        )

    def enqueued():
        found = [e for e in events(client, job_id) if e["kind"] == "task_enqueued"]
        return found[0]["data"] if found else None

    queued = wait_until(enqueued, timeout=90, message="the loop to enqueue a task")
    # The user stops the enqueued task; the loop sees the queue idle and scans again.
    with app.app_context():
        cancel_job(uuid.UUID(queued["job"]), "not now")
    done = wait_for_status(client, job_id, timeout=120)

    assert done["status"] == "failed"
    assert 'Step "plan_fresh_improvement" requires structured_output' in done["abort_reason"]
    path = [r["name"] for r in done["runs"]]
    assert path[:4] == [
        "route_context",
        "plan_fresh_improvement",
        "enqueue_fresh",
        "wait_before_next_scan",
    ]
    assert path[-2:] == ["route_context", "plan_fresh_improvement"]
    assert set(path[4:-2]) <= {"wait_before_next_scan"}
    assert queued["workflow"] == "takt-default"
    assert sorted(queued["ignored"]) == ["base_branch", "issue", "worktree"]
    child = get_job(client, queued["job"])
    assert child["piece_name"] == "takt-default" and child["owner_id"] == owner
    assert child["instruction"].startswith("## Summary\nRetries sometimes run twice.")
    first = done["runs"][0]["state"]["context"]
    assert first["selected_pr"] == {"exists": False} and first["prs"] == []
    assert first["active_queue"]["pending_count"] == 0
    delays = {
        e["data"]["movement"]: e["data"]["delay_ms"]
        for e in events(client, job_id)
        if e["kind"] == "step_delayed"
    }
    assert delays == {"plan_fresh_improvement": 1500, "wait_before_next_scan": 1500}
