"""Child jobs: spawning them within limits, and waking the parent when they all end.

A child inherits its parent's owner, visibility and tier and lives in the parent's
workspace under `subtasks/N/`. The job-end hook below runs in whatever transaction
ends a child (worker, cancel, sweep): it writes `subtasks/N/result.md` into the
parent's workspace, tells the parent (a user-input artifact, so the re-run movement
sees it in its prompt) and, once no child is left running, moves the parent
`waiting_subtasks -> queued` and sends its pending run after commit.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from app.artifacts import add_input
from app.config import Settings
from app.db import db
from app.jobs import Dispatch, cancel_job, create_job, resume_job, send_all
from app.lifecycle import AfterCommit, on_job_end, run_after_commit
from app.models import Job
from app.status import JOB_TERMINAL, JobStatus
from app.transitions import lock_job, record_event
from pieces import Movement, Piece

log = logging.getLogger(__name__)
RESULT_PREVIEW = 4000


class SubtaskRefused(Exception):
    """Beyond a limit, or a piece that cannot be loaded; the message goes to the model."""


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def workspace_of(job: Job, settings: Settings) -> Path:
    """Where a job's files live: its own folder, or its slot inside its parent's."""
    custom = (job.payload or {}).get("workspace")
    return Path(custom) if custom else settings.workspaces_dir / str(job.id)


def agent_piece(agent: str) -> Piece:
    """A one-movement piece that runs a registered agent on the job's instruction."""
    return Piece(
        name=f"agent-{agent}",
        initial_movement="respond",
        movements=[Movement(name="respond", agent=agent, instruction="{task}")],
    )


def open_children(parent_id: uuid.UUID) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.parent_job_id == parent_id, Job.status.notin_([s.value for s in JOB_TERMINAL]))
    )


def spawn(
    parent_id: uuid.UUID, title: str, instruction: str, piece: Piece
) -> tuple[Job, int, list[Dispatch]]:
    """Create child N of a running parent in the caller's transaction; commit, then send."""
    settings = _settings()
    status = lock_job(parent_id)
    if status != JobStatus.RUNNING:
        raise SubtaskRefused(f"the parent job is {status}; no subtasks can be started")
    parent = db.session.get(Job, parent_id, populate_existing=True)
    depth = parent.subtask_depth + 1
    if depth > settings.subtask_max_depth:
        raise SubtaskRefused(
            f"subtask depth limit reached: this job is at depth {parent.subtask_depth} and "
            f"SUBTASK_MAX_DEPTH is {settings.subtask_max_depth}"
        )
    count = db.session.scalar(
        select(func.count()).select_from(Job).where(Job.parent_job_id == parent_id)
    )
    if count >= settings.subtask_max_per_parent:
        raise SubtaskRefused(
            f"subtask limit reached: this job already started {count} subtasks "
            f"(SUBTASK_MAX_PER_PARENT is {settings.subtask_max_per_parent})"
        )
    index = count + 1
    folder = workspace_of(parent, settings) / "subtasks" / str(index)
    child, dispatches = create_job(
        owner_id=parent.owner_id,
        instruction=instruction,
        piece=piece,
        tier=parent.tier,
        max_attempts=parent.max_attempts,
        visibility=parent.visibility,
        payload={"subtask_index": index, "subtask_title": title, "workspace": str(folder)},
        parent_job_id=parent_id,
        subtask_depth=depth,
    )
    record_event(
        parent_id,
        "subtask_spawned",
        index=index,
        title=title,
        child_job_id=str(child.id),
        piece=piece.name,
    )
    return child, index, dispatches


@on_job_end
def _child_ended(job_id: uuid.UUID, status: str) -> list[AfterCommit]:
    row = db.session.execute(
        select(
            Job.parent_job_id, Job.payload, Job.result, Job.error_summary, Job.abort_reason
        ).where(Job.id == job_id)
    ).first()
    if row is None or row.parent_job_id is None:
        return []
    parent_status = lock_job(row.parent_job_id)
    if parent_status is None or parent_status in JOB_TERMINAL:
        return []
    parent = db.session.get(Job, row.parent_job_id, populate_existing=True)
    payload = row.payload or {}
    index = payload.get("subtask_index", "?")
    title = payload.get("subtask_title", "")
    body = row.result if status == JobStatus.SUCCEEDED else (row.abort_reason or row.error_summary)
    text = f"# Subtask {index}: {title}\n\nstatus: {status}\njob: {job_id}\n\n{body or ''}\n"
    _write_result(workspace_of(parent, _settings()), index, text)
    add_input(
        parent.id,
        f"Subtask {index} ({title}) {status}; full result in subtasks/{index}/result.md:\n"
        f"{(body or '')[:RESULT_PREVIEW]}",
        parent.attempt,
    )
    record_event(parent.id, "subtask_ended", index=index, child_job_id=str(job_id), status=status)
    if parent_status != JobStatus.WAITING_SUBTASKS or open_children(parent.id):
        return []
    dispatches = resume_job(parent, JobStatus.WAITING_SUBTASKS, "all subtasks ended")
    return [lambda: send_all(dispatches)]


@on_job_end
def _orphaned_children(job_id: uuid.UUID, status: str) -> list[AfterCommit]:
    """A parent that ends takes its unfinished children with it.

    After commit, one child per transaction: cancelling a child inside the parent's
    transaction would lock child after parent, while a child that is ending locks
    parent after child (a deadlock).
    """
    children = db.session.scalars(
        select(Job.id).where(
            Job.parent_job_id == job_id, Job.status.notin_([s.value for s in JOB_TERMINAL])
        )
    ).all()
    if not children:
        return []

    def cancel_children() -> None:
        for child_id in children:
            child = db.session.get(Job, child_id)
            after = cancel_job(child, f"parent job {job_id} {status}") if child else None
            db.session.commit()
            run_after_commit(after or [])

    return [cancel_children]


def _write_result(root: Path, index: object, text: str) -> None:
    try:
        folder = root / "subtasks" / str(index)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.md").write_text(text)
    except OSError:  # the parent still resumes; its prompt carries the result too
        log.warning("could not write subtask result under %s", root, exc_info=True)
