"""What a ``kind: system`` step reads from and does to legato (pieces/system_run.py says
what it means in TAKT's terms).

* ``task_queue_context``: TAKT counts the tasks of its project's queue; legato's queue
  is the owner's jobs. Only top-level jobs count (a called workflow or a subtask is part
  of its parent, as a TAKT task's sub-work is); ``exclude_current_task`` leaves out the
  top-level job this step belongs to. Statuses map to TAKT's kinds: queued and retry
  are ``pending``; running and waiting are ``running``; succeeded is ``completed``;
  failed and cancelled are ``failed``. ``items`` lists the open ones (newest first, at
  most ITEMS).
* ``enqueue_task`` (``mode: new``): a new job of the same owner, tier and visibility,
  running the enqueued workflow (compiled when this job was accepted,
  ``Piece.enqueues``) with the effect's ``task`` as its instruction, in a workspace of
  its own. It is not a child: it outlives the job that enqueued it, as a TAKT task
  outlives the loop that queued it. ``jobs.effect_run_id`` names the system step run
  and is unique, and the job is inserted in the transaction that completes that run,
  so a redelivered or re-run step never submits a second one.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.ledger import Work, create
from app.models import Job
from app.status import JobStatus
from pieces import Piece

ENQUEUED_KIND = "enqueued"
ITEMS = 50
_jobs = Job.__table__

KIND_OF = {
    JobStatus.QUEUED.value: "pending",
    JobStatus.RETRY.value: "pending",
    JobStatus.RUNNING.value: "running",
    JobStatus.WAITING_HUMAN.value: "running",
    JobStatus.WAITING_SUBTASKS.value: "running",
    JobStatus.SUCCEEDED.value: "completed",
    JobStatus.FAILED.value: "failed",
    JobStatus.CANCELLED.value: "failed",
}
KINDS = ("pending", "running", "completed", "failed", "exceeded", "pr_failed")
# Forge options of enqueue_task that legato does not carry out (it has no forge).
FORGE_OPTIONS = ("issue", "issue_number", "base_branch", "worktree")


def root_job(conn, job_id: uuid.UUID) -> uuid.UUID:
    """The top-level job a (called, or subtask) job belongs to."""
    current = job_id
    for _ in range(64):
        parent = conn.execute(
            select(_jobs.c.parent_job_id).where(_jobs.c.id == current)
        ).scalar_one_or_none()
        if parent is None:
            return current
        current = parent
    return current


def queue_context(conn, owner: str, exclude: uuid.UUID | None) -> dict[str, Any]:
    """TAKT's task_queue_context over the owner's top-level jobs."""
    where = [_jobs.c.owner_id == owner, _jobs.c.parent_job_id.is_(None)]
    if exclude is not None:
        where.append(_jobs.c.id != exclude)
    counts = dict.fromkeys(KINDS, 0)
    rows = conn.execute(
        select(_jobs.c.status, func.count()).where(*where).group_by(_jobs.c.status)
    ).all()
    for status, count in rows:
        counts[KIND_OF.get(status, "failed")] += count
    open_statuses = [s for s, k in KIND_OF.items() if k in ("pending", "running")]
    items = conn.execute(
        select(_jobs.c.id, _jobs.c.status)
        .where(*where, _jobs.c.status.in_(open_statuses))
        .order_by(_jobs.c.created_at.desc())
        .limit(ITEMS)
    ).all()
    total = sum(counts.values())
    return {
        "exists": total > 0,
        "total_count": total,
        **{f"{kind}_count": counts[kind] for kind in KINDS},
        "items": [
            {"task_name": str(i.id), "kind": KIND_OF[i.status], "issue": None, "pr": None}
            for i in items
        ],
    }


def enqueue_task(work: Work, run, caller, piece: Piece, args: dict[str, Any]) -> dict[str, Any]:
    """Submit the job an enqueue_task effect asks for (once per run); TAKT's result."""
    name = str(args.get("workflow"))
    existing = work.conn.execute(
        select(_jobs.c.id).where(_jobs.c.effect_run_id == run.id)
    ).scalar_one_or_none()
    ignored = [key for key in FORGE_OPTIONS if args.get(key) is not None]
    if existing is not None:
        job_id = existing
    else:
        target = piece.enqueues.get(name)
        if target is None:  # only a literal, compiled name is accepted at submission
            return {"success": False, "failed": True, "error": f'unknown workflow "{name}"'}
        settings = current_app.extensions["legato.settings"]
        job_id, dispatches = create(
            work,
            owner_id=caller.owner_id,
            instruction=str(args.get("task")),
            piece=target,
            tier=caller.tier,
            max_attempts=settings.default_max_attempts,
            visibility=caller.visibility,
            task_kind=ENQUEUED_KIND,
            effect_run_id=run.id,
        )
        work.after_all([d.send for d in dispatches])
        work.event(
            "task_enqueued",
            movement=run.name,
            run_id=str(run.id),
            job=str(job_id),
            workflow=name,
            ignored=ignored,
        )
    result: dict[str, Any] = {
        "success": True,
        "failed": False,
        "taskName": str(job_id),
        "job_id": str(job_id),
        "workflow": name,
        "issueCreated": False,
    }
    if ignored:
        result["ignored"] = ignored
    return result
