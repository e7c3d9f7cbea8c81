"""What a movement's prompt is told about its job: the PromptContext, from the database."""

from __future__ import annotations

from sqlalchemy import select

from app.artifacts import latest_reports, user_inputs
from app.db import db
from app.models import Job, MovementRun
from app.status import RunStatus
from pieces import PromptContext


def prompt_context(job: Job, run: MovementRun) -> PromptContext:
    return PromptContext(
        task=job.instruction,
        iteration=run.iteration,
        movement_iteration=run.movement_iteration,
        previous_response=previous_output(run),
        user_inputs=user_inputs(job.id),
        reports={name: a.content for name, a in latest_reports(job.id).items()},
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
