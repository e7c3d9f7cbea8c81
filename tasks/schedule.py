"""The beat schedule: the maintenance loop's periodic tasks and their intervals.

Every entry runs on the `maintenance` queue and must be idempotent and safe when
two beats run by mistake.
"""

from __future__ import annotations

from typing import Any

from app.config import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        **durability_schedule(settings),
        # Agent chat sessions idle past CHAT_SESSION_TTL_MINUTES expire.
        "expire-sessions": {
            "task": "legato.maintenance.expire_sessions",
            "schedule": 300.0,
            "options": {"expires": 300.0},
        },
        # Swarm scale-to-zero: idle services to 0, zeroed ones with work back up.
        "idle-scale-down": {
            "task": "legato.maintenance.idle_scale_down",
            "schedule": settings.idle_scale_interval,
            # A pass that waited longer than one interval is stale; the next one is due.
            "options": {"expires": settings.idle_scale_interval},
        },
    }


# Task name -> interval setting. A sweep that waited in the queue longer than
# max(interval, 30 s) is dropped: the next one is due anyway. (Not just one interval:
# with second-long test intervals a busy worker would drop every sweep.)
DURABILITY_TASKS = {
    "recover-stuck": ("legato.maintenance.recover_stuck", "beat_recover_stuck_seconds"),
    "dispatch-retries": ("legato.maintenance.dispatch_retries", "beat_dispatch_retries_seconds"),
    "reconcile": ("legato.maintenance.reconcile", "beat_reconcile_seconds"),
    "enqueue-reflections": ("legato.maintenance.enqueue_reflections", "beat_reflections_seconds"),
    "probe-llm-endpoints": ("legato.maintenance.probe_llm_endpoints", "beat_probe_seconds"),
}


def durability_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The durability sweeps (tasks.maintenance), intervals from BEAT_*_SECONDS."""
    schedule = {}
    for entry, (task, interval_setting) in DURABILITY_TASKS.items():
        interval = getattr(settings, interval_setting)
        expires = max(interval, 30.0)
        schedule[entry] = {"task": task, "schedule": interval, "options": {"expires": expires}}
    return schedule
