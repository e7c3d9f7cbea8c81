"""What a claimed run needs to know, read inside its claim transaction.

Reads only: the job's facts (JOB_FACTS, read by the claim's locking statement), the
run's recorded phases, a parallel parent's sub-movement results, the loop history and
earlier visits. The prompt context and conversation are one query (tasks.engine.context).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from app.models import Job, JobArtifact, MovementRun, RunPhase
from app.status import RunStatus
from pieces import Answer, SubResult
from pieces.loops import history_of
from pieces.state import merged

_jobs, _runs, _phases, _artifacts = (
    Job.__table__,
    MovementRun.__table__,
    RunPhase.__table__,
    JobArtifact.__table__,
)
JOB_FACTS = (
    _jobs.c.id,
    _jobs.c.owner_id,
    _jobs.c.instruction,
    _jobs.c.tier,
    _jobs.c.attempt,
    _jobs.c.interactive,
    _jobs.c.task_kind,
    _jobs.c.piece_name,
    _jobs.c.workspace,
    _jobs.c.subtask_depth,
    _jobs.c.reports_path,
    _jobs.c.call_run_id,
    _jobs.c.visibility,
    _jobs.c.parent_job_id,
)


def recorded_answers(conn: Connection, run_id: uuid.UUID) -> tuple[list[Answer], int]:
    """The run's checkpointed phases as program answers, and the next free seq."""
    rows = conn.execute(
        select(
            _phases.c.seq,
            _phases.c.kind,
            _phases.c.name,
            _phases.c.status,
            _phases.c.answer,
            _phases.c.structured,
            _phases.c.error,
        )
        .where(_phases.c.run_id == run_id)
        .order_by(_phases.c.seq)
    ).all()
    answers = [
        Answer(
            kind=r.kind,
            content=r.answer,
            name=r.name,
            status=r.status,
            structured=r.structured,
            error=r.error,
        )
        for r in rows
    ]
    return answers, (rows[-1].seq + 1 if rows else 1)


def sub_results(conn: Connection, parent_run_id: uuid.UUID) -> list[SubResult]:
    """Each member's result, in the order they started. A member that was run again
    (its lease expired and the sweep re-ran it) counts by its last run."""
    rows = conn.execute(
        select(
            _runs.c.name,
            _runs.c.status,
            _runs.c.output,
            _runs.c.matched_condition,
            _runs.c.error,
            _runs.c.route,
        )
        .where(_runs.c.parent_run_id == parent_run_id)
        .order_by(_runs.c.created_at, _runs.c.id)
    ).all()
    latest: dict[str, Any] = {}
    for r in rows:
        latest.pop(r.name, None)  # keep the start order of the last run
        latest[r.name] = r
    results = []
    for r in latest.values():
        if r.status == RunStatus.CANCELLED.value:
            continue
        error = None if r.status == RunStatus.COMPLETED.value else (r.error or r.status)
        gate = r.route == "quality_gate"
        results.append(SubResult(r.name, r.output or "", r.matched_condition, error, gate))
    return results


def loop_history(conn: Connection, job_id: uuid.UUID, attempt: int, iteration: int) -> list[str]:
    """The loop-monitor history before `iteration`: top-level movements recorded since the
    last loop judge ran (a judge resets it; waits for a human are not recorded)."""
    rows = conn.execute(
        select(_runs.c.name, _runs.c.kind, _runs.c.route)
        .where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == attempt,
            _runs.c.parent_run_id.is_(None),
            _runs.c.iteration < iteration,
            _runs.c.status == RunStatus.COMPLETED.value,
        )
        .order_by(_runs.c.iteration)
    )
    return history_of([(row.name, row.kind, row.route) for row in rows])


def as_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def earlier_runs(conn: Connection, run, limit: int = 50):
    """The top-level runs of the same movement before this one in its attempt, newest first."""
    return conn.execute(
        select(_runs.c.id, _runs.c.status, _runs.c.spec)
        .where(
            _runs.c.job_id == run.job_id,
            _runs.c.attempt == run.attempt,
            _runs.c.name == run.name,
            _runs.c.parent_run_id.is_(None),
            _runs.c.iteration < run.iteration,
        )
        .order_by(_runs.c.iteration.desc())
        .limit(limit)
    ).all()


def previous_selection(conn: Connection, run, kind: str) -> dict[str, Any] | None:
    """What the previous visit of this step (in this attempt) selected: a dynamic
    parallel parent's members (kept in its spec), or a step's dynamic facets (its
    selector's recorded answer). None on the first visit."""
    if run.kind == "parallel":
        for row in earlier_runs(conn, run, limit=1):
            spec = row.spec or {}
            if "selected" in spec:
                return {"selected": spec["selected"], "rationale": spec.get("rationale", "")}
        return None
    condition = [_runs.c.job_id == run.job_id, _runs.c.attempt == run.attempt]
    condition += [_runs.c.name == run.name, _runs.c.id != run.id]
    answer = conn.execute(
        select(_phases.c.structured)
        .join(_runs, _runs.c.id == _phases.c.run_id)
        .where(*condition, _phases.c.kind == kind, _phases.c.status == "done")
        .order_by(_runs.c.iteration.desc(), _phases.c.id.desc())
        .limit(1)
    ).first()
    return answer.structured if answer and isinstance(answer.structured, dict) else None


def error_streak(conn: Connection, run) -> int:
    """How many visits of this parallel step in a row (before this one, this attempt)
    routed failed members through an "error" rule: TAKT's explicit error retries."""
    streak = 0
    for row in earlier_runs(conn, run, limit=10):
        if row.status != RunStatus.COMPLETED.value:
            break
        if not any(s.error is not None for s in sub_results(conn, row.id)):
            break
        streak += 1
    return streak


def members(conn: Connection, parent_run_id: uuid.UUID) -> list[str]:
    """The names of a parent's member runs, first started first."""
    rows = conn.execute(
        select(_runs.c.name)
        .where(_runs.c.parent_run_id == parent_run_id)
        .order_by(_runs.c.created_at, _runs.c.id)
    )
    names: list[str] = []
    for row in rows:
        if row.name not in names:
            names.append(row.name)
    return names


def _recorded_steps(spec: Any) -> int:
    value = (spec or {}).get("steps_used") if isinstance(spec, dict) else None
    return value if isinstance(value, int) else 0


def members_steps_used(conn: Connection, parent_run_id: uuid.UUID) -> int:
    """The furthest a parallel step's called members took the shared step counter."""
    rows = conn.execute(select(_runs.c.spec).where(_runs.c.parent_run_id == parent_run_id))
    return max((_recorded_steps(r.spec) for r in rows), default=0)


def job_steps_used(conn: Connection, job_id: uuid.UUID, attempt: int) -> int:
    """The shared step counter when a (called) job ended: the furthest any run that
    started took it (a call or a parallel step records what its called workflows used)."""
    rows = conn.execute(
        select(_runs.c.iteration, _runs.c.spec).where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == attempt,
            _runs.c.started_at.is_not(None),
        )
    )
    return max((max(r.iteration, _recorded_steps(r.spec)) for r in rows), default=0)


def last_output(conn: Connection, job_id: uuid.UUID, attempt: int) -> str | None:
    """The output of a job's last top-level run that has one (TAKT's lastOutput)."""
    return conn.execute(
        select(_runs.c.output)
        .where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == attempt,
            _runs.c.parent_run_id.is_(None),
            _runs.c.output.is_not(None),
        )
        .order_by(_runs.c.iteration.desc(), _runs.c.finished_at.desc())
        .limit(1)
    ).scalar()


def workflow_state(conn: Connection, job_id: uuid.UUID, attempt: int) -> dict[str, Any]:
    """The workflow state this attempt's completed runs left (pieces/state.py), merged
    in the order they completed, so a later visit of a step overwrites an earlier one."""
    rows = conn.execute(
        select(_runs.c.name, _runs.c.state)
        .where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == attempt,
            _runs.c.status == RunStatus.COMPLETED.value,
            _runs.c.state.is_not(None),
        )
        .order_by(_runs.c.finished_at, _runs.c.iteration, _runs.c.created_at)
    )
    return merged((r.name, r.state) for r in rows)


def run_route(conn: Connection, run_id: uuid.UUID):
    """A run's name and queue (to send its message again)."""
    return conn.execute(select(_runs.c.name, _runs.c.tier).where(_runs.c.id == run_id)).one()
