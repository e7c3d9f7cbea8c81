"""Child jobs: spawning them within limits, and waking the parent when they all end.

A child inherits its parent's owner, visibility and tier and works in the parent's
workspace under `subtasks/N/`. That folder is an engine-owned column of the child
(`jobs.workspace`, relative to WORKSPACE_ROOT), never something a request can set.
The job-end hooks below run in whatever unit of work ends a child (worker, cancel,
sweep): the child's result is written to `subtasks/N/result.md` in the parent's
workspace and given to the parent as a user input; once no child is left running, the
parent goes `waiting_subtasks -> queued` and its pending run is sent after commit.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from app.config import Settings
from app.ledger import (
    INPUT,
    Work,
    add_artifact,
    cancel,
    create,
    resume,
    unit_of_work,
)
from app.models import Job
from app.status import JOB_TERMINAL, JobStatus
from pieces import Movement, Piece

log = logging.getLogger(__name__)
RESULT_PREVIEW = 4000
_jobs = Job.__table__


class SubtaskRefused(Exception):
    """Beyond a limit, or a parent that cannot take children; the message goes to the model."""


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def folder_of(settings: Settings, job_id: uuid.UUID, workspace: str | None) -> Path:
    return settings.workspaces_dir / (workspace or str(job_id))


def agent_piece(agent: str) -> Piece:
    """A one-movement piece that runs a registered agent on the job's instruction."""
    return Piece(
        name=f"agent-{agent}",
        initial_movement="respond",
        movements=[
            Movement(
                name="respond",
                agent=agent,
                rules=[{"index": 0, "condition": "Done", "label": "Done", "next": "COMPLETE"}],
            )
        ],
    )


def open_children(work_or_conn, parent_id: uuid.UUID) -> int:
    conn = getattr(work_or_conn, "conn", work_or_conn)
    return conn.execute(
        select(func.count())
        .select_from(_jobs)
        .where(
            _jobs.c.parent_job_id == parent_id,
            _jobs.c.call_run_id.is_(None),  # subtasks only (app.calls has the calls)
            _jobs.c.status.notin_([s.value for s in JOB_TERMINAL]),
        )
    ).scalar_one()


def spawn(
    work: Work, parent_id: uuid.UUID, title: str, instruction: str, piece: Piece
) -> tuple[uuid.UUID, int]:
    """Create child N of a running parent; its runs are sent after the unit commits."""
    settings = _settings()
    if work.job_status != JobStatus.RUNNING:
        raise SubtaskRefused(f"the parent job is {work.job_status}; no subtasks can be started")
    parent = work.conn.execute(select(_jobs).where(_jobs.c.id == parent_id)).first()
    depth = parent.subtask_depth + 1
    if depth > settings.subtask_max_depth:
        raise SubtaskRefused(
            f"subtask depth limit reached: this job is at depth {parent.subtask_depth} and "
            f"SUBTASK_MAX_DEPTH is {settings.subtask_max_depth}"
        )
    count = work.conn.execute(
        select(func.count())
        .select_from(_jobs)
        .where(_jobs.c.parent_job_id == parent_id, _jobs.c.call_run_id.is_(None))
    ).scalar_one()
    if count >= settings.subtask_max_per_parent:
        raise SubtaskRefused(
            f"subtask limit reached: this job already started {count} subtasks "
            f"(SUBTASK_MAX_PER_PARENT is {settings.subtask_max_per_parent})"
        )
    index = count + 1
    folder = str(Path(parent.workspace or str(parent_id)) / "subtasks" / str(index))
    child_id, dispatches = create(
        work,
        owner_id=parent.owner_id,
        instruction=instruction,
        piece=piece,
        tier=parent.tier,
        max_attempts=parent.max_attempts,
        visibility=parent.visibility,
        payload={"subtask_title": title},
        parent_job_id=parent_id,
        subtask_depth=depth,
        workspace=folder,
        subtask_index=index,
    )
    work.event(
        "subtask_spawned",
        parent_id,
        index=index,
        title=title,
        child_job_id=str(child_id),
        piece=piece.name,
    )
    work.after_all([d.send for d in dispatches])
    return child_id, index


def child_ended(work: Work, job_id: uuid.UUID, status: str) -> None:
    """Job-end hook: tell the parent, and resume it when its last child has ended."""
    row = work.ended_job(job_id)
    # A called workflow is not a subtask: app.calls wakes the run that called it.
    if row is None or row.parent_job_id is None or row.call_run_id is not None:
        return
    parent = work.conn.execute(
        select(_jobs.c.id, _jobs.c.status, _jobs.c.attempt, _jobs.c.workspace)
        .where(_jobs.c.id == row.parent_job_id)
        .with_for_update()
    ).first()
    if parent is None or parent.status in JOB_TERMINAL:
        return
    index = row.subtask_index or "?"
    title = (row.payload or {}).get("subtask_title", "")
    body = row.result if status == JobStatus.SUCCEEDED else (row.abort_reason or row.error_summary)
    text = f"# Subtask {index}: {title}\n\nstatus: {status}\njob: {job_id}\n\n{body or ''}\n"
    _write_result(folder_of(_settings(), parent.id, parent.workspace), index, text)
    add_artifact(
        work,
        parent.id,
        INPUT,
        "input",
        f"Subtask {index} ({title}) {status}; full result in subtasks/{index}/result.md:\n"
        f"{(body or '')[:RESULT_PREVIEW]}",
        parent.attempt,
    )
    work.event("subtask_ended", parent.id, index=index, child_job_id=str(job_id), status=status)
    if parent.status != JobStatus.WAITING_SUBTASKS or open_children(work, parent.id):
        return
    resume(work, parent.id, JobStatus.WAITING_SUBTASKS, "all subtasks ended")


def orphan_children(work: Work, job_id: uuid.UUID, status: str) -> None:
    """Job-end hook: a parent that ends takes its unfinished children with it.

    After commit, one child per unit of work: cancelling a child inside the parent's
    transaction would lock child after parent, while a child that is ending locks
    parent after child (a deadlock).
    """
    children = (
        work.conn.execute(
            select(_jobs.c.id).where(
                _jobs.c.parent_job_id == job_id,
                _jobs.c.status.notin_([s.value for s in JOB_TERMINAL]),
            )
        )
        .scalars()
        .all()
    )
    cancel_later(work, children, f"parent job {job_id} {status}")


def cancel_later(work: Work, children: list[uuid.UUID], reason: str) -> None:
    """Cancel these child jobs after `work` commits, one unit of work each (a child is
    locked after its parent's commit, never inside it: see orphan_children)."""
    if not children:
        return

    def cancel_children() -> None:
        for child_id in children:
            with unit_of_work(child_id) as child:
                if child.job_status in JOB_TERMINAL or child.job_status is None:
                    child.discard()
                    continue
                cancel(child, child_id, reason)

    work.after(cancel_children)


def _write_result(root: Path, index: object, text: str) -> None:
    try:
        folder = root / "subtasks" / str(index)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.md").write_text(text)
    except OSError:  # the parent still resumes; its prompt carries the result too
        log.warning("could not write subtask result under %s", root, exc_info=True)
