"""A parallel step's members, started under its ``concurrency`` and kept in the database.

A parallel parent that must choose its members (a dynamic step's selector) or limit
how many run at once is visited before them: its program ends in a `Fanout`, and
`fan_out` records it in one transaction with the visit's last phases: the members
(and the tier of each) go into the parent run's ``spec``, the parent waits, and the
first members are inserted. From then on `advance` (called by every member that ends,
under the job lock, and by the reconcile sweep) starts the next member while fewer
than ``concurrency`` are open, and wakes the parent once every member has ended. The
plan lives in PostgreSQL, never in a worker's memory, so any worker carries it on.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.ledger import (
    Dispatch,
    add_tokens,
    insert_run,
    move_run,
    park_run,
    record_phase,
    set_values,
    unit_of_work,
)
from app.ledger.traces import record_llm_calls
from app.models import MovementRun
from app.status import JobStatus, RunStatus
from pieces.dynamic import Fanout
from tasks.engine.claim import Claimed
from tasks.engine.events import phase_event

_runs = MovementRun.__table__
OPEN = (RunStatus.PENDING.value, RunStatus.RUNNING.value, RunStatus.WAITING.value)


def fan_out(claimed: Claimed, fanout: Fanout, rows: list[dict], llm_calls: list[dict]) -> str:
    run, movement = claimed.run, claimed.movement
    with unit_of_work(run.job_id) as work:
        if work.job_status != JobStatus.RUNNING:
            work.discard()
            return "job-not-running"
        for row in rows:
            if not record_phase(work, run.id, claimed.owner, row):
                work.discard()
                return "lost"
            work.event("phase_completed", **phase_event(claimed, row))
        record_llm_calls(work, llm_calls)
        add_tokens(
            work, run.job_id, sum(r["tokens_in"] for r in rows), sum(r["tokens_out"] for r in rows)
        )
        members = list(fanout.members)
        # A replayed step restored the workspace on this first visit; the members' work
        # must not be undone when the parent is visited again.
        kept = {k: v for k, v in (run.spec or {}).items() if k != "restore"}
        plan = {
            **kept,
            "participants": members,
            "tiers": {name: movement.sub_movement(name).tier or run.tier for name in members},
            "concurrency": movement.concurrency,
        }
        if movement.dynamic is not None:
            plan.update(selected=list(fanout.selected), rationale=fanout.rationale)
        if not park_run(work, run.id, claimed.owner, spec=plan):
            work.discard()
            return "lost"
        work.event(
            "parallel_started",
            movement=run.name,
            iteration=run.iteration,
            sub_movements=members,
            selected=list(fanout.selected) if movement.dynamic is not None else None,
            concurrency=movement.concurrency,
        )
        if run.parent_run_id is None:
            set_values(work, run.job_id, current_activity=f"{run.name}: members at work")
        advance(work, run.id)
    return "waiting"


def advance(work, parent_run_id: uuid.UUID) -> bool | None:
    """Start the members there is room for, or wake the parent when all have ended.

    None when the parent has no recorded plan (its members were all started with it);
    otherwise whether anything was started or woken."""
    parent = work.conn.execute(
        select(
            _runs.c.id,
            _runs.c.job_id,
            _runs.c.attempt,
            _runs.c.name,
            _runs.c.tier,
            _runs.c.iteration,
            _runs.c.status,
            _runs.c.spec,
        ).where(_runs.c.id == parent_run_id)
    ).first()
    plan = (parent.spec or {}) if parent is not None else {}
    if parent is None or "participants" not in plan:
        return None
    if parent.status != RunStatus.WAITING.value:
        return False
    rows = work.conn.execute(
        select(_runs.c.name, _runs.c.status).where(_runs.c.parent_run_id == parent_run_id)
    ).all()
    started = {r.name for r in rows}
    running = sum(1 for r in rows if r.status in OPEN)
    queued = [name for name in plan["participants"] if name not in started]
    limit = plan.get("concurrency") or len(plan["participants"]) or 1
    batch = queued[: max(0, limit - running)]
    tiers = plan.get("tiers") or {}
    for name in batch:
        tier = tiers.get(name) or parent.tier
        member = insert_run(
            work,
            job_id=parent.job_id,
            attempt=parent.attempt,
            name=name,
            tier=tier,
            iteration=parent.iteration,
            parent_run_id=parent.id,
        )
        work.event("member_queued", movement=parent.name, member=name, run_id=str(member))
        work.after(Dispatch(member, parent.job_id, name, tier).send)
    if batch or running or queued:
        return bool(batch)
    if not move_run(work, parent.id, RunStatus.WAITING, RunStatus.PENDING):
        return False
    work.after(Dispatch(parent.id, parent.job_id, parent.name, parent.tier).send)
    return True
