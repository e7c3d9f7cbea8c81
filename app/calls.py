"""Called workflows: a ``kind: workflow_call`` run's child job, and waking the run when
the child ends.

A called workflow runs as a **child job** (``task_kind = "call"``): its piece is the
callee embedded in the caller's snapshot (pieces/call_run.py), its parent is the
calling job, and ``jobs.call_run_id`` names the run that called it. That column is
unique, and the child is inserted in the same transaction that parks the calling run
(``running -> waiting``), so a redelivered message, a re-run after a lost lease or a
reconcile sweep can never start a second child for one call. The child shares the
caller's workspace (TAKT's child works in the same directory) and writes its reports
under ``<caller's reports>/subworkflows/<segment>/``; it starts with the caller's user
inputs, has one attempt (its failure is a result for the caller, not a retry) and
inherits owner, visibility, tier and interactivity.

When the child ends, whoever ends it (its worker, a cancel, a sweep) runs the job-end
hook `call_ended` inside that unit of work: the calling job gets a ``call_finished``
event, and the waiting run becomes pending again and is sent after commit; it then
routes on the child's result (tasks/engine/call.py). A caller that ends takes its
unfinished children with it (app.subtasks.orphan_children); an attempt that moves to
retry takes its own calls' children (`cancel_attempt_calls`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.ledger import INPUT, Dispatch, Work, add_artifact, create, move_run
from app.models import Job, JobArtifact, MovementRun
from app.status import JOB_TERMINAL, JobStatus, RunStatus
from app.subtasks import cancel_later
from pieces import Piece

CALL_KIND = "call"
_jobs, _runs, _artifacts = Job.__table__, MovementRun.__table__, JobArtifact.__table__


def spawn_call(
    work: Work,
    run,
    caller,
    piece: Piece,
    *,
    first_iteration: int,
    reports_path: str,
) -> uuid.UUID:
    """Insert the child job of call run `run` (of job `caller`); its first run is sent
    after the unit commits. The caller must hold the calling job's lock."""
    child_id, dispatches = create(
        work,
        owner_id=caller.owner_id,
        instruction=caller.instruction,
        piece=piece,
        tier=caller.tier,
        max_attempts=1,
        visibility=caller.visibility,
        interactive=caller.interactive,
        task_kind=CALL_KIND,
        parent_job_id=caller.id,
        subtask_depth=caller.subtask_depth,
        workspace=caller.workspace or str(caller.id),
        call_run_id=run.id,
        reports_path=reports_path,
        first_iteration=first_iteration,
    )
    # TAKT's child starts with the caller's user inputs.
    inputs = work.conn.execute(
        select(_artifacts.c.content)
        .where(
            _artifacts.c.job_id == caller.id,
            _artifacts.c.attempt == run.attempt,
            _artifacts.c.kind == INPUT,
        )
        .order_by(_artifacts.c.created_at, _artifacts.c.id)
    ).scalars()
    for text in inputs:
        add_artifact(work, child_id, INPUT, "input", text, 1)
    work.after_all([d.send for d in dispatches])
    return child_id


def call_ended(work: Work, job_id: uuid.UUID, status: str) -> None:
    """Job-end hook: a called workflow ended; wake the run that called it."""
    child = work.ended_job(job_id)
    if child is None or child.call_run_id is None or child.parent_job_id is None:
        return
    # Child after parent would deadlock with a caller that is cancelling its children;
    # those are cancelled after the caller's commit (app.subtasks.orphan_children).
    caller = work.conn.execute(
        select(_jobs.c.status).where(_jobs.c.id == child.parent_job_id).with_for_update()
    ).first()
    if caller is None or caller.status in JOB_TERMINAL:
        return
    run = work.conn.execute(
        select(_runs.c.id, _runs.c.name, _runs.c.tier, _runs.c.status).where(
            _runs.c.id == child.call_run_id
        )
    ).first()
    if run is None:
        return
    if child.returned is not None:
        result = child.returned
    else:
        result = "COMPLETE" if status == JobStatus.SUCCEEDED else "ABORT"
    work.event(
        "call_finished",
        child.parent_job_id,
        movement=run.name,
        run_id=str(run.id),
        child_job_id=str(job_id),
        workflow=child.piece_name,
        status=status,
        result=result,
        reason=child.abort_reason if status != JobStatus.SUCCEEDED else None,
    )
    if run.status != RunStatus.WAITING.value or caller.status != JobStatus.RUNNING.value:
        return
    if move_run(work, run.id, RunStatus.WAITING, RunStatus.PENDING):
        work.after(Dispatch(run.id, child.parent_job_id, run.name, run.tier).send)


def cancel_attempt_calls(work: Work, job_id: uuid.UUID, attempt: int) -> None:
    """Attempt-retry hook: the called workflows of an attempt that moves to retry are
    cancelled (after commit), as a caller's cancel or end cancels them: the next attempt
    starts its own calls, and a child of the old one must not run on beside it."""
    children = (
        work.conn.execute(
            select(_jobs.c.id)
            .join(_runs, _runs.c.id == _jobs.c.call_run_id)
            .where(
                _jobs.c.parent_job_id == job_id,
                _runs.c.attempt == attempt,
                _jobs.c.status.notin_([s.value for s in JOB_TERMINAL]),
            )
        )
        .scalars()
        .all()
    )
    cancel_later(work, children, f"caller job {job_id} attempt {attempt} moved to retry")


def open_call(conn, run_id: uuid.UUID) -> bool:
    """Whether run `run_id` has called a workflow that has not ended yet."""
    return (
        conn.execute(
            select(_jobs.c.id).where(
                _jobs.c.call_run_id == run_id,
                _jobs.c.status.notin_([s.value for s in JOB_TERMINAL]),
            )
        ).first()
        is not None
    )
