"""Replay: a new attempt of a finished job that starts at a chosen movement.

The new attempt begins with copies of the runs that came before that movement in the
chosen attempt (with their phases, so each session's conversation carries on), the
reports they wrote and the user inputs given until then; the movement itself runs again,
and its first visit restores the workspace to the commit the run before it left (every
completed run commits the workspace). The original attempt stays as it was.

A replay is refused when it cannot be honest:
  409  the job has not finished (cancel it first)
  422  the movement is unknown, or is a parallel sub-movement, a team part or a loop
       judge (replay the movement that contains it); it did not run in that attempt;
       the attempt does not exist; or the job is a subtask, whose folder belongs to its
       parent's workspace (replay the parent).
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert, literal, select

from app.domain_errors import DomainError, IllegalState
from app.ledger import INPUT, REPORT, Dispatch, insert_run, move_job, unit_of_work
from app.models import Job, JobArtifact, MovementRun, RunPhase
from app.status import JOB_TERMINAL, JobStatus, RunStatus
from pieces import Piece

_jobs, _runs, _phases, _artifacts = (
    Job.__table__,
    MovementRun.__table__,
    RunPhase.__table__,
    JobArtifact.__table__,
)


class ReplayRefused(DomainError):
    code = "replay_refused"


def replay(
    job_id: uuid.UUID,
    piece: Piece,
    movement: str,
    *,
    attempt: int | None = None,
    iteration: int | None = None,
    who: str,
) -> int:
    """Start the new attempt; returns its number."""
    with unit_of_work(job_id) as work:
        if work.job_status not in JOB_TERMINAL:
            raise IllegalState(
                f"job is {work.job_status}; cancel it before replaying it",
                details={"status": work.job_status},
            )
        job = work.conn.execute(
            select(_jobs.c.attempt, _jobs.c.workspace).where(_jobs.c.id == job_id)
        ).one()
        if job.workspace is not None:
            raise ReplayRefused(
                "a subtask works in its parent's workspace; replay the parent job instead"
            )
        source = attempt or job.attempt
        if not 1 <= source <= job.attempt:
            raise ReplayRefused(f"attempt {source} does not exist (the job has {job.attempt})")
        if movement not in [mv.name for mv in piece.movements]:
            parent = piece.parent_of(movement)
            hint = f"; replay {parent.name!r}, which contains it" if parent else ""
            raise ReplayRefused(f"{movement!r} is not a movement of {piece.name!r}{hint}")
        target = _target(work, job_id, source, movement, iteration)
        new = job.attempt + 1
        restore = _restore_point(work, job_id, source, target.iteration)
        moved = move_job(
            work,
            job_id,
            JOB_TERMINAL,
            JobStatus.QUEUED,
            attempt=new,
            result=None,
            abort_reason=None,
            error_summary=None,
            next_retry_at=None,
            finished_at=None,
            current_movement=movement,
            current_activity=f"replaying from {movement}",
        )
        if not moved:
            raise IllegalState("the job changed while the replay was prepared; try again")
        _copy_history(work, job_id, source, new, target)
        run_id = insert_run(
            work,
            job_id=job_id,
            attempt=new,
            name=movement,
            tier=target.tier,
            iteration=target.iteration,
            kind=target.kind,
            movement_iteration=target.movement_iteration,
            spec={"restore": restore},
        )
        work.event(
            "job_replayed",
            attempt=new,
            from_attempt=source,
            movement=movement,
            iteration=target.iteration,
            workspace_commit=restore,
            by=who,
        )
        work.after(Dispatch(run_id, job_id, movement, target.tier).send)
        return new


def _target(work, job_id: uuid.UUID, attempt: int, movement: str, iteration: int | None):
    conditions = [
        _runs.c.job_id == job_id,
        _runs.c.attempt == attempt,
        _runs.c.name == movement,
        _runs.c.parent_run_id.is_(None),
        _runs.c.status != RunStatus.PENDING.value,
    ]
    if iteration is not None:
        conditions.append(_runs.c.iteration == iteration)
    row = work.conn.execute(
        select(_runs).where(*conditions).order_by(_runs.c.iteration, _runs.c.created_at).limit(1)
    ).first()
    if row is None:
        at = f" at iteration {iteration}" if iteration is not None else ""
        raise ReplayRefused(f"{movement!r} did not run{at} in attempt {attempt}")
    return row


def _restore_point(work, job_id: uuid.UUID, attempt: int, iteration: int) -> str | None:
    """The workspace commit of the last run before `iteration`; None: an empty workspace."""
    return work.conn.execute(
        select(_runs.c.workspace_commit)
        .where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == attempt,
            _runs.c.iteration < iteration,
            _runs.c.workspace_commit.is_not(None),
        )
        .order_by(_runs.c.iteration.desc(), _runs.c.finished_at.desc())
        .limit(1)
    ).scalar()


def _copy_history(work, job_id: uuid.UUID, source: int, new: int, target) -> None:
    """Copies of the runs before the target (members too), their phases, reports, inputs."""
    rows = work.conn.execute(
        select(_runs)
        .where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == source,
            _runs.c.iteration < target.iteration,
            _runs.c.status.in_([RunStatus.COMPLETED.value, RunStatus.FAILED.value]),
        )
        .order_by(_runs.c.parent_run_id.is_not(None), _runs.c.iteration, _runs.c.created_at)
    ).all()
    new_ids: dict[uuid.UUID, uuid.UUID] = {}
    for row in rows:
        values = dict(row._mapping)
        new_ids[row.id] = uuid.uuid4()
        values.update(
            id=new_ids[row.id],
            attempt=new,
            copied_from=row.id,
            parent_run_id=new_ids.get(row.parent_run_id) if row.parent_run_id else None,
            lease_owner=None,
            lease_expires_at=None,
        )
        work.conn.execute(insert(_runs).values(**values))
    phase_columns = [
        c for c in _phases.c if c.name not in ("id", "run_id", "attempt", "created_at")
    ]
    for old, fresh in new_ids.items():
        work.conn.execute(
            insert(_phases).from_select(
                ["run_id", "attempt", *[c.name for c in phase_columns]],
                select(literal(fresh, _phases.c.run_id.type), literal(new), *phase_columns).where(
                    _phases.c.run_id == old
                ),
            )
        )
    for artifact in work.conn.execute(
        select(_artifacts).where(_artifacts.c.job_id == job_id, _artifacts.c.attempt == source)
    ):
        keep = (artifact.kind == REPORT and artifact.movement_run_id in new_ids) or (
            artifact.kind == INPUT
            and target.started_at is not None
            and artifact.created_at < target.started_at
        )
        if keep:
            values = dict(artifact._mapping)
            values.update(
                id=uuid.uuid4(),
                attempt=new,
                movement_run_id=new_ids.get(artifact.movement_run_id),
            )
            work.conn.execute(insert(_artifacts).values(**values))
