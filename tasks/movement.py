"""The `run_movement` task: a thin shell around the engine (tasks.engine)."""

from __future__ import annotations

import uuid

from app.contract import RUN_MOVEMENT
from tasks.celery_app import celery_app
from tasks.engine.movement import execute_run


@celery_app.task(name=RUN_MOVEMENT, bind=True, ids=("run_id",))
def run_movement(
    self,
    run_id: uuid.UUID,
    job_id: str | None = None,
    movement: str | None = None,
    tier: str | None = None,
) -> str:
    """One visit of movement run `run_id`; the other arguments are for Flower's readers."""
    return execute_run(run_id, f"{self.request.hostname}/{self.request.id}")
