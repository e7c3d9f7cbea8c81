"""The beat schedule: every durability sweep present, intervals from settings, and
every maintenance task routed to the maintenance queue."""

from __future__ import annotations

from tasks.schedule import DURABILITY_TASKS, beat_schedule

from app.celery_config import celery_config
from app.config import Settings


def test_every_sweep_is_scheduled_with_its_configured_interval():
    settings = Settings(beat_reconcile_seconds=7, beat_dispatch_retries_seconds=0.5)
    schedule = beat_schedule(settings)
    for entry, (task, _) in DURABILITY_TASKS.items():
        assert schedule[entry]["task"] == task
    assert schedule["reconcile"]["schedule"] == 7
    assert schedule["dispatch-retries"]["schedule"] == 0.5
    assert schedule["recover-stuck"]["schedule"] == 60
    # a short interval still leaves a busy worker time to run the sweep
    assert schedule["dispatch-retries"]["options"]["expires"] >= 30


def test_maintenance_tasks_route_to_the_maintenance_queue():
    routes = celery_config(Settings())["task_routes"]
    for task, _ in DURABILITY_TASKS.values():
        assert task.startswith("legato.maintenance.")
    assert routes["legato.maintenance.*"] == {"queue": "maintenance"}
