"""What a movement's prompt is told about its job: the PromptContext, from the database."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.artifacts import HANDOFF, latest_reports, user_inputs
from app.db import db
from app.models import Job, JobArtifact, MovementRun
from app.notes import REFLECTION_KIND, notes_for
from app.status import RunStatus
from pieces import PromptContext


def prompt_context(job: Job, run: MovementRun) -> PromptContext:
    settings = current_app.extensions["legato.settings"]
    # A reflection reads a job's history, not the owner's lessons about other work.
    notes = None
    if job.task_kind != REFLECTION_KIND:
        notes = notes_for(job.owner_id, job.piece_name, settings.notes_max_chars)
    return PromptContext(
        task=job.instruction,
        iteration=run.iteration,
        movement_iteration=run.movement_iteration,
        previous_response=previous_output(run),
        user_inputs=user_inputs(job.id),
        reports={name: a.content for name, a in latest_reports(job.id).items()},
        notes=notes,
        handoff=handoff_for(job.id, run.attempt),
    )


def handoff_for(job_id, attempt: int) -> str | None:
    """The handoff the previous attempt left (the newest one before `attempt`)."""
    if attempt <= 1:
        return None
    return db.session.scalar(
        select(JobArtifact.content)
        .where(
            JobArtifact.job_id == job_id,
            JobArtifact.kind == HANDOFF,
            JobArtifact.attempt < attempt,
        )
        .order_by(JobArtifact.attempt.desc(), JobArtifact.created_at.desc())
        .limit(1)
    )


def previous_output(run: MovementRun) -> str | None:
    """The output of the top-level movement that ran just before this one."""
    if run.iteration <= 1:
        return None
    return db.session.scalar(
        select(MovementRun.output).where(
            MovementRun.job_id == run.job_id,
            MovementRun.attempt == run.attempt,
            MovementRun.iteration == run.iteration - 1,
            MovementRun.parent_run_id.is_(None),
            MovementRun.status == RunStatus.COMPLETED.value,
        )
    )
