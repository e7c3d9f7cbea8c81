"""One visit of a ``kind: workflow_call`` run: call the workflow, or route on its end.

Why a child job and not movements inlined into the caller: a called workflow is a
whole TAKT workflow with its own steps, loop history, reports folder and `return:`
labels; as a job of its own it runs on the same engine unchanged (its steps are claimed,
checkpointed, recovered and cancelled like any job's) and stays visible on its own
(``GET /api/jobs/{child}``), while the caller only waits. The child is keyed by the
calling run (app.calls), so it is started exactly once.

* **First visit** (no child recorded in the run's spec): in one transaction holding the
  job lock and guarded by the run's lease, the child job is inserted and the run moves
  ``running -> waiting`` with the child's id in its spec; ``call_started`` is written.
  When the shared step budget is already spent and the callee's first step would
  consume a step, no child is started: the call ends at once as TAKT's child does
  (``ABORT``, ``Max steps reached``).
* **Second visit** (the child's end woke the run, app.calls.call_ended): the child's
  status, returned label, last output, abort reason and step counter become the run's
  outcome (pieces/call_run.py), and the run finishes like any other: its rule routes the
  caller (or, as a parallel member, its parent aggregates it), and the caller's next
  step counts on from where the child stopped. A run woken while its child still runs
  goes back to waiting.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from app.calls import spawn_call
from app.config import Settings
from app.ledger import park_run, set_values, unit_of_work
from app.models import Job
from app.status import JOB_TERMINAL, JobStatus
from pieces.call_run import (
    ChildEnd,
    call_outcome,
    called_piece,
    over_budget,
    report_segment,
    steps_before,
)
from pieces.routing import ITERATION_LIMIT, max_reason
from tasks.engine import reads
from tasks.engine.claim import Claimed
from tasks.engine.finish import finish

log = logging.getLogger(__name__)
_jobs = Job.__table__
CHILD_KEY = "call_job"  # the run's spec: the id of the job it called


def visit_call(claimed: Claimed, settings: Settings) -> str:
    child = (claimed.run.spec or {}).get(CHILD_KEY)
    if child is None:
        return _call(claimed, settings)
    return _return(claimed, uuid.UUID(child), settings)


def _interactive(claimed: Claimed) -> bool:
    return bool(claimed.job.interactive)


def _call(claimed: Claimed, settings: Settings) -> str:
    run, movement = claimed.run, claimed.movement
    piece = called_piece(claimed.piece, movement)
    used = steps_before(run.iteration, run.parent_run_id is not None)
    if over_budget(piece, used):
        end = ChildEnd("failed", reason=max_reason(piece), abort_kind=ITERATION_LIMIT)
        claimed.steps_used = used
        return finish(claimed, call_outcome(movement, end, _interactive(claimed)), [], [], settings)
    base = claimed.job.reports_path or "reports"
    reports = f"{base}/subworkflows/{report_segment(run.name, run.movement_iteration, piece.name)}"
    with unit_of_work(run.job_id) as work:
        if work.job_status != JobStatus.RUNNING:
            work.discard()
            return "job-not-running"
        caller = work.conn.execute(select(_jobs).where(_jobs.c.id == run.job_id)).first()
        child_id = spawn_call(
            work, run, caller, piece, first_iteration=used + 1, reports_path=reports
        )
        if not park_run(
            work, run.id, claimed.owner, spec={**(run.spec or {}), CHILD_KEY: str(child_id)}
        ):
            work.discard()  # the child goes with the rollback
            return "lost"
        work.event(
            "call_started",
            movement=run.name,
            run_id=str(run.id),
            child_job_id=str(child_id),
            workflow=piece.name,
            iteration=used + 1,
            reports=reports,
        )
        if run.parent_run_id is None:
            set_values(
                work,
                run.job_id,
                current_activity=f"{run.name}: calling {piece.name} (job {child_id})"[:500],
            )
    return "calling"


def _return(claimed: Claimed, child_id: uuid.UUID, settings: Settings) -> str:
    run = claimed.run
    with unit_of_work(run.job_id) as work:
        child = work.conn.execute(
            select(
                _jobs.c.status,
                _jobs.c.attempt,
                _jobs.c.returned,
                _jobs.c.abort_reason,
                _jobs.c.abort_kind,
            ).where(_jobs.c.id == child_id)
        ).first()
        if child is not None and child.status not in JOB_TERMINAL:
            # Woken too early (a sweep): wait for the child's end again.
            if not park_run(work, run.id, claimed.owner):
                work.discard()
                return "lost"
            return "waiting"
        if child is None:  # deleted under us: the call ended without a result
            end = ChildEnd("failed", reason=f"called job {child_id} is gone")
        else:
            end = ChildEnd(
                child.status,
                returned=child.returned,
                last_output=reads.last_output(work.conn, child_id, child.attempt),
                reason=child.abort_reason,
                abort_kind=child.abort_kind,
                steps_used=reads.job_steps_used(work.conn, child_id, child.attempt),
            )
        work.discard()  # only read
    before = steps_before(run.iteration, run.parent_run_id is not None)
    claimed.steps_used = max(before, end.steps_used)
    outcome = call_outcome(claimed.movement, end, _interactive(claimed))
    return finish(claimed, outcome, [], [], settings)
