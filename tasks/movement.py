"""The `run_movement` task: a thin shell around tasks.execution."""

from __future__ import annotations

import logging
import uuid

from app.celery_config import RUN_MOVEMENT
from tasks.celery_app import celery_app
from tasks.execution import execute_run

log = logging.getLogger(__name__)


@celery_app.task(name=RUN_MOVEMENT, bind=True)
def run_movement(
    self,
    run_id: str,
    job_id: str | None = None,
    movement: str | None = None,
    tier: str | None = None,
) -> str:
    """Execute movement run `run_id`. The other arguments are for people reading Flower."""
    try:
        rid = uuid.UUID(run_id)
    except (ValueError, TypeError):
        log.error("run_movement got a malformed run id %r; dropping", run_id)
        return "invalid"
    worker = f"{self.request.hostname}/{self.request.id}"
    outcome = execute_run(rid, worker)
    log.info("run %s (%s, job %s): %s", run_id, movement, job_id, outcome)
    return outcome
