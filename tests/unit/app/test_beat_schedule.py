"""The beat schedule: every durability sweep present, intervals from settings, and
every maintenance task routed to the maintenance queue."""

from __future__ import annotations

from app.config import Settings
from app.contract import MAINTENANCE_PREFIX, SWEEPS, beat_schedule, celery_config, queue_for


def test_every_sweep_is_scheduled_with_its_configured_interval():
    settings = Settings(beat_reconcile_seconds=7, beat_dispatch_retries_seconds=0.5)
    schedule = beat_schedule(settings)
    for entry, (task, _) in SWEEPS.items():
        assert schedule[entry]["task"] == task
    assert schedule["reconcile"]["schedule"] == 7
    assert schedule["dispatch-retries"]["schedule"] == 0.5
    assert schedule["recover-stuck"]["schedule"] == 60
    # a short interval still leaves a busy worker time to run the sweep
    assert schedule["dispatch-retries"]["options"]["expires"] >= 30


def test_maintenance_tasks_route_to_the_maintenance_queue():
    routes = celery_config(Settings())["task_routes"]
    for task, _ in SWEEPS.values():
        assert task.startswith("legato.maintenance.")
    assert routes["legato.maintenance.*"] == {"queue": "maintenance"}
    for entry in beat_schedule(Settings()).values():
        assert entry["task"].startswith(MAINTENANCE_PREFIX)
        assert queue_for(entry["task"]) == "maintenance"


def test_work_goes_where_it_is_told_and_must_be_told():
    import pytest

    assert queue_for("legato.run_movement", "quality") == "quality"
    with pytest.raises(ValueError):
        queue_for("legato.run_movement")
