"""The beat schedule: the maintenance loop's periodic tasks and their intervals.

Every entry runs on the `maintenance` queue and must be idempotent and safe when
two beats run by mistake.
"""

from __future__ import annotations

from typing import Any

from app.config import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        # Agent chat sessions idle past CHAT_SESSION_TTL_MINUTES expire (issue 4).
        "expire-sessions": {
            "task": "legato.maintenance.expire_sessions",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        # Swarm scale-to-zero (issue 6): idle services to 0, zeroed ones with work back up.
        "idle-scale-down": {
            "task": "legato.maintenance.idle_scale_down",
            "schedule": settings.idle_scale_interval,
            # A pass that waited longer than one interval is stale; the next one is due.
            "options": {"expires": settings.idle_scale_interval},
        },
    }
