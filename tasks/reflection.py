"""Reflections: each finished job gets one reflection job, whose output becomes notes.

Safe with two beats: "one reflection per job" is the primary key of `job_reflections`.
The Celery tasks that call these live in tasks.maintenance.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.catalog import PieceUnavailable, load_for_job
from app.config import Settings
from app.contract import producer
from app.db import db, utcnow
from app.history import history_lines
from app.ledger import create, end_read, unit_of_work
from app.models import Job, MovementRun
from app.notes import REFLECTABLE, REFLECTION_KIND, JobReflection

log = logging.getLogger(__name__)

BATCH = 200


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


# -- reflections --------------------------------------------------------------------

_worker_cache: dict[str, tuple[float, bool]] = {}


def reflection_worker_present() -> bool:
    """Whether some Celery worker consumes the `reflection` queue (cached 30 s)."""
    cached = _worker_cache.get("reflection")
    if cached and time.monotonic() - cached[0] < 30:
        return cached[1]
    try:
        replies = producer().control.inspect(timeout=1.0).active_queues() or {}
    except Exception:
        log.warning("inspect active_queues failed", exc_info=True)
        replies = {}
    present = any(
        q.get("name") == "reflection" for queues in replies.values() for q in (queues or [])
    )
    _worker_cache["reflection"] = (time.monotonic(), present)
    return present


def reflection_tokens_today(owner_id: str) -> int:
    now = db.session.scalar(select(utcnow()))
    if isinstance(now, str):  # SQLite hands the expression back as text
        now = datetime.fromisoformat(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight.tzinfo is None:
        midnight = midnight.replace(tzinfo=UTC)
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Job.tokens_in + Job.tokens_out), 0)).where(
                Job.owner_id == owner_id,
                Job.task_kind == REFLECTION_KIND,
                Job.created_at >= midnight,
            )
        )
        or 0
    )


def reflect_job_once(job_id: uuid.UUID, *, worker_present: bool | None = None) -> str:
    """Create the one reflection job for a finished job, or record why not."""
    settings = _settings()
    if not settings.reflection_enabled:
        return "disabled"
    job = db.session.get(Job, job_id)
    if job is None or job.status not in REFLECTABLE or job.task_kind == REFLECTION_KIND:
        db.session.rollback()
        return "not-reflectable"
    if db.session.get(JobReflection, job_id) is not None:
        db.session.rollback()
        return "exists"
    if settings.reflection_require_worker:
        present = reflection_worker_present() if worker_present is None else worker_present
        if not present:
            db.session.rollback()
            return "no-worker"  # not marked: a later sweep tries again
    owner = job.owner_id or "local"
    budget = settings.reflection_daily_token_budget
    if budget and reflection_tokens_today(owner) >= budget:
        db.session.rollback()
        return "over-budget"  # not marked: tomorrow's budget may allow it
    source_id = job.id
    history = reflection_input(job)
    try:
        piece = load_for_job(owner, "reflection", settings)
    except PieceUnavailable:
        end_read()
        return "no-piece"
    end_read()
    try:
        with unit_of_work() as work:
            # The marker's primary key makes "one reflection per job" hold across beats.
            work.conn.execute(
                insert(JobReflection.__table__).values(job_id=source_id, state="created")
            )
            reflection_id, dispatches = create(
                work,
                owner_id=owner,
                instruction=history,
                piece=piece,
                tier="reflection" if "reflection" in settings.tiers else settings.default_tier,
                max_attempts=1,
                visibility="private",
                payload={"reflects": str(source_id)},
                task_kind=REFLECTION_KIND,
                parent_job_id=source_id,
            )
            work.conn.execute(
                update(JobReflection.__table__)
                .where(JobReflection.job_id == source_id)
                .values(reflection_job_id=reflection_id)
            )
            work.event("reflection_created", source_id, reflection_job_id=str(reflection_id))
            work.after_all([d.send for d in dispatches])
    except IntegrityError:  # the other beat's marker committed first
        return "exists"
    return "created"


def reflection_input(job: Job) -> str:
    """The finished job's history as the reflection's task text (capped)."""
    runs = db.session.scalars(
        select(MovementRun)
        .where(MovementRun.job_id == job.id)
        .order_by(MovementRun.attempt, MovementRun.iteration, MovementRun.created_at)
    ).all()
    lines = [
        f"Job {job.id} (piece {job.piece_name}) ended {job.status} after {job.attempt} attempt(s).",
        "",
        "Instruction:",
        job.instruction[:2000],
        "",
        "Movements:",
    ]
    lines += history_lines(runs[-30:], preview_chars=300, error_chars=200, with_attempt=True)
    if job.error_summary:
        lines += ["", f"Failure: {job.error_summary[:500]}"]
    if job.result:
        lines += ["", "Result:", job.result[:1500]]
    return "\n".join(lines)[:8000]


def enqueue_reflections_once(*, worker_present: bool | None = None) -> int:
    """Sweep finished jobs without a reflection marker (the hook's safety net)."""
    if not _settings().reflection_enabled:
        return 0
    candidates = db.session.scalars(
        select(Job.id)
        .outerjoin(JobReflection, JobReflection.job_id == Job.id)
        .where(
            Job.status.in_(REFLECTABLE),
            Job.task_kind != REFLECTION_KIND,
            JobReflection.job_id.is_(None),
        )
        .order_by(Job.finished_at)
        .limit(BATCH)
    ).all()
    db.session.rollback()
    created = 0
    for job_id in candidates:
        if reflect_job_once(job_id, worker_present=worker_present) == "created":
            created += 1
    return created
