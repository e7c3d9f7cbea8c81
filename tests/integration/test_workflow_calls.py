"""workflow_call on real workers: what a called workflow's child job shows, that it is
started exactly once, that cancelling the caller cancels it, and a TAKT builtin
workflow that calls another run to its end.

The step paths, results and budget of the suite's call scenarios are checked in
tests/integration/test_runtime_suite.py (and the pure walk); these tests look at what
only a real run has: the messages, the sweeps, the events, the files.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.fakellm import delay, text
from tests.integration.helpers import events, get_job, submit, wait_for_status
from tests.piece_suite.runtime import Ask, Say, default, step
from tests.piece_suite.scripted import ScriptedModel

pytestmark = pytest.mark.integration
CALLEE = "wf-run-callee"


def _scripted(llm, *rules) -> None:
    """Answer every call as the runtime suite's default does, unless a rule says so."""
    visits = ScriptedModel()

    def respond(rec):
        if not rec.kind:
            return None
        visit, _ = visits.visit(rec.movement or "", rec.run or "")
        ask = Ask(rec.movement or "", rec.kind, rec.name, visit, rec.last_user_message)
        for predicate, say in rules:
            if predicate(ask):
                return text(say)
        said = default(ask)
        return text(said.text if isinstance(said, Say) else said) if said is not None else None

    llm.respond_with(respond)


def _hold_check(llm, seconds: float = 4.0) -> None:
    """The callee's first check answers only after a while (or when released)."""
    llm.when(
        lambda r: r.movement == "check" and r.kind == "execute",
        delay(seconds, text("Checked.")),
        text("Checked."),
    )


def _call_run(client, job_id: str) -> dict:
    def waiting():
        runs = get_job(client, job_id)["runs"]
        return next((r for r in runs if r["name"] == "review" and r["status"] == "waiting"), None)

    return wait_until(waiting, timeout=60, message="the review call to wait for its child")


def test_a_called_workflow_is_started_once_however_often_its_run_is_sent(
    app, client, worker, llm, stack_env
):
    from app.contract import send_run
    from tasks.maintenance import reconcile_once

    _hold_check(llm)
    _scripted(llm)
    job = submit(client, piece="wf-run-call", instruction="write a note", max_attempts=1)
    call = _call_run(client, job["id"])
    wait_until(
        lambda: any(r.movement == "check" for r in llm.chat_requests),
        timeout=60,
        message="the callee's check to be at work",
    )
    # While the child runs: the call run's message again (a redelivery), and the
    # sweeps that re-send pending runs and wake waiting parents.
    for _ in range(2):
        send_run(call["id"], job_id=job["id"], movement="review", queue=call["tier"])
    with app.app_context():
        reconcile_once(older_than=0)
    llm.release()
    done = wait_for_status(client, job["id"], timeout=120)

    assert done["status"] == "succeeded", done["abort_reason"]
    children = done["children"]
    assert [(c["task_kind"], c["piece_name"], c["status"]) for c in children] == [
        ("call", CALLEE, "succeeded")
    ]
    assert children[0]["call_run_id"] == call["id"]
    reviews = [r for r in done["runs"] if r["name"] == "review"]
    assert [(r["status"], r["match_method"], r["matched_condition"]) for r in reviews] == [
        ("completed", "workflow_call", "COMPLETE")
    ]
    child = get_job(client, children[0]["id"])
    assert child["parent_job_id"] == job["id"] and child["call_run_id"] == call["id"]
    assert child["instruction"] == "write a note"  # the caller's task
    assert [r["iteration"] for r in child["runs"]] == [2, 3]
    # The caller's next step sees the callee's last output as its previous response.
    assert reviews[0]["output"] == "Answer from sign-off (visit 1)."
    log = [e for e in events(client, job["id"]) if e["kind"].startswith("call_")]
    assert [e["kind"] for e in log] == ["call_started", "call_finished"]
    assert log[0]["data"]["child_job_id"] == child["id"]
    assert log[0]["data"]["workflow"] == CALLEE and log[0]["data"]["iteration"] == 2
    assert log[1]["data"]["result"] == "COMPLETE" and log[1]["data"]["status"] == "succeeded"

    # vars reach {var:...}; the shared counter and the root's limit reach the prompt.
    check = next(r for r in llm.chat_requests if r.movement == "check" and r.kind == "execute")
    assert "Check the draft (initial review, step 2 of 8)." in check.last_user_message
    publish = next(r for r in llm.chat_requests if r.movement == "publish")
    assert "Answer from sign-off (visit 1)." in publish.last_user_message
    # The callee's report: stored with the child, written in its namespaced folder.
    folder = Path(stack_env["LEGATO_DATA_DIR"]) / "workspaces" / job["id"] / "reports"
    report = folder / "subworkflows" / "iteration-1--step-review--workflow-wf-run-callee"
    assert (report / "check.md").read_text().strip() == "Report from check (visit 1)."
    assert not (folder / "check.md").exists()
    assert client.get(f"/api/jobs/{child['id']}/reports/check.md").status_code == 200


def test_cancelling_the_caller_cancels_the_called_workflow(client, worker, llm):
    _hold_check(llm)
    _scripted(llm)
    job = submit(client, piece="wf-run-call", instruction="write a note", max_attempts=1)
    _call_run(client, job["id"])
    child_id = get_job(client, job["id"])["children"][0]["id"]
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    child = wait_for_status(client, child_id, timeout=60)
    llm.release()

    assert child["status"] == "cancelled"
    assert child["abort_reason"] == f"parent job {job['id']} cancelled"
    caller = get_job(client, job["id"])
    assert caller["status"] == "cancelled"
    assert [r["status"] for r in caller["runs"] if r["name"] == "review"] == ["cancelled"]
    # The cancelled child's end does not bring the cancelled caller back.
    assert "call_finished" not in [e["kind"] for e in events(client, job["id"])]


def test_cancelling_the_called_workflow_is_an_abort_for_the_caller(client, worker, llm):
    _hold_check(llm)
    _scripted(llm)
    job = submit(client, piece="wf-run-call", instruction="write a note", max_attempts=1)
    _call_run(client, job["id"])
    child_id = get_job(client, job["id"])["children"][0]["id"]
    assert client.post(f"/api/jobs/{child_id}/cancel").status_code == 200
    done = wait_for_status(client, job["id"], timeout=60)
    llm.release()

    # review routes ABORT -> ABORT, and the caller ends with the child's reason.
    assert done["status"] == "failed"
    assert done["abort_reason"] == "cancelled by local"
    finished = next(e for e in events(client, job["id"]) if e["kind"] == "call_finished")
    assert finished["data"]["result"] == "ABORT" and finished["data"]["status"] == "cancelled"


# -- a builtin TAKT workflow ------------------------------------------------------------


@pytest.fixture(scope="module")
def takt_library(tmp_path_factory):
    from pieces import PieceLibrary
    from tests.unit.pieces.workflow.conftest import HEAD_COMMIT, _takt_builtins

    root = _takt_builtins(
        tmp_path_factory,
        "TAKT_BUILTINS_HEAD",
        "/work/takthead/builtins/en",
        HEAD_COMMIT,
        ["builtins/en", "builtins/schemas"],
    )
    return PieceLibrary([root, root.parent])


def test_takt_backend_mini_runs_its_called_core_to_the_end(app, client, worker, llm, takt_library):
    """TAKT's builtin backend-mini is one workflow_call step into mini-core (plan,
    implement, a parallel review); with a reviewer who approves, it completes."""
    from app.job_actions import submit as submit_piece

    piece = takt_library.load("backend-mini")
    _scripted(llm, (lambda a: a.movement == "supervise" and a.kind == "judge_structured", step(2)))
    with app.app_context():
        job_id = str(
            submit_piece(
                piece=piece,
                owner_id="local",
                instruction="add a health endpoint",
                tier="auto",
                max_attempts=1,
            )
        )
    done = wait_for_status(client, job_id, timeout=180)

    assert done["status"] == "succeeded", done["abort_reason"]
    assert [(r["name"], r["matched_condition"]) for r in done["runs"]] == [("develop", "COMPLETE")]
    (core,) = done["children"]
    core = get_job(client, core["id"])
    assert core["piece_name"] == "mini-core" and core["status"] == "succeeded"
    top = [r["name"] for r in core["runs"] if r["parent_run_id"] is None]
    assert top == ["plan", "implement", "reviewers"]
    members = sorted(r["name"] for r in core["runs"] if r["parent_run_id"] is not None)
    assert members == ["ai-antipattern-review-2nd", "supervise"]
    # mini-core's own limit is not used: backend-mini's (21) is, counted on from 0.
    assert [r["iteration"] for r in core["runs"] if r["parent_run_id"] is None] == [1, 2, 3]
    kinds = Counter(r.kind for r in llm.chat_requests if r.job == core["id"] and r.kind)
    assert kinds["execute"] >= 4 and not [r for r in llm.chat_requests if r.job == job_id]
    assert uuid.UUID(core["call_run_id"]) == uuid.UUID(done["runs"][0]["id"])
