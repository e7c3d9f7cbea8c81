"""Two ways a run ends other than its route: waking a waiting parent, handing a run back.

* The last sub-movement of a parallel movement to end (and every part of a team
  leader) makes the waiting parent run pending again, under the job lock, so exactly
  one caller sends it; a member that ends while others wait to start (``concurrency``,
  a dynamic step) starts the next one instead (tasks.engine.fanout).
* A run whose endpoint never answered (connection refused, DNS, timeouts on every try)
  is handed back without using an attempt: it is closed, a fresh pending copy takes
  its place, the job returns to `queued`, and `probe_llm_endpoints` re-sends it when the
  tier answers again (at most UNREACHABLE_MAX_REQUEUES times per job).
"""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import func, select

from app.calls import open_call
from app.endpoints import record_health
from app.ledger import Dispatch, insert_run, move_job, move_run, unit_of_work
from app.ledger.traces import record_llm_calls
from app.models import JobEvent, MovementRun
from app.status import JobStatus, RunStatus
from tasks.engine.fanout import OPEN, advance

_runs = MovementRun.__table__
REQUEUED_EVENT = "job_requeued"


def wake_parent(work, parent_run_id: uuid.UUID) -> bool:
    """Make a waiting parent pending when its children allow it; sends it after commit.
    A parallel parent with a plan of members starts the next ones instead while any
    is still to start (tasks.engine.fanout)."""
    planned = advance(work, parent_run_id)
    if planned is not None:
        return planned
    parent = work.conn.execute(
        select(
            _runs.c.id, _runs.c.job_id, _runs.c.name, _runs.c.tier, _runs.c.kind, _runs.c.status
        ).where(_runs.c.id == parent_run_id)
    ).first()
    if parent is None or parent.status != RunStatus.WAITING.value:
        return False
    if open_call(work.conn, parent_run_id):
        return False  # a workflow_call run waits for its called job (app.calls)
    if parent.kind != "team_leader":
        still_open = work.conn.execute(
            select(func.count())
            .select_from(_runs)
            .where(_runs.c.parent_run_id == parent_run_id, _runs.c.status.in_(OPEN))
        ).scalar_one()
        if still_open:
            return False
    if not move_run(work, parent_run_id, RunStatus.WAITING, RunStatus.PENDING):
        return False
    work.after(Dispatch(parent.id, parent.job_id, parent.name, parent.tier).send)
    return True


def requeue_unreachable(claimed, reason: str, llm_calls: list[dict]) -> str | None:
    """Hand the run back because its tier's endpoint is down; None: over the limit."""
    settings = current_app.extensions["legato.settings"]
    run = claimed.run
    with unit_of_work(run.job_id) as work:
        if work.job_status != JobStatus.RUNNING:
            work.discard()
            return "job-not-running"
        requeues = work.conn.execute(
            select(func.count())
            .select_from(JobEvent.__table__)
            .where(JobEvent.job_id == run.job_id, JobEvent.kind == REQUEUED_EVENT)
        ).scalar_one()
        if requeues >= settings.unreachable_max_requeues:
            work.discard()
            return None
        if not move_run(
            work,
            run.id,
            RunStatus.RUNNING,
            RunStatus.FAILED,
            held_by=claimed.owner,
            error=f"handed back: {reason}",
        ):
            work.discard()
            return "lost"
        record_llm_calls(work, llm_calls)
        insert_run(
            work,
            job_id=run.job_id,
            attempt=run.attempt,
            name=run.name,
            tier=run.tier,
            iteration=run.iteration,
            kind=run.kind,
            parent_run_id=run.parent_run_id,
            movement_iteration=run.movement_iteration,
            retry_count=run.retry_count,
            loop_monitor=run.loop_monitor,
            cycle_count=run.cycle_count,
            natural_next=run.natural_next,
            spec=run.spec,
        )
        in_flight = work.conn.execute(
            select(func.count())
            .select_from(_runs)
            .where(
                _runs.c.job_id == run.job_id,
                _runs.c.status == RunStatus.RUNNING.value,
                _runs.c.lease_owner.is_not(None),
                _runs.c.id != run.id,
            )
        ).scalar_one()
        if not in_flight:
            move_job(
                work,
                run.job_id,
                JobStatus.RUNNING,
                JobStatus.QUEUED,
                current_activity=f"waiting for the {run.tier} endpoint",
            )
        endpoint = settings.tier_endpoint(run.tier)
        record_health(run.tier, healthy=False, base_url=endpoint.base_url, error=reason[:500])
        work.event(
            REQUEUED_EVENT, movement=run.name, tier=run.tier, reason=reason, attempt=run.attempt
        )
    return "requeued"
