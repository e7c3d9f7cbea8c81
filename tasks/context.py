"""What a movement's prompt is told about its job: the PromptContext, from the database."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.artifacts import job_texts
from app.db import db
from app.models import Job, MovementRun
from app.notes import REFLECTION_KIND, notes_for
from app.status import RunStatus
from pieces import PromptContext


def prompt_context(job: Job, run: MovementRun) -> PromptContext:
    settings = current_app.extensions["legato.settings"]
    # A reflection reads a job's history, not the owner's lessons about other work.
    notes = None
    if job.task_kind != REFLECTION_KIND:
        notes = notes_for(job.owner_id, job.piece_name, settings.notes_max_chars)
    texts = job_texts(job.id, run.attempt)
    return PromptContext(
        task=job.instruction,
        iteration=run.iteration,
        movement_iteration=run.movement_iteration,
        previous_response=previous_output(run),
        user_inputs=texts.inputs,
        reports=texts.reports,
        notes=notes,
        handoff=texts.handoff,
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
