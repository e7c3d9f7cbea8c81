"""The beat schedule: the maintenance loop's periodic tasks and their intervals.

Every entry runs on the `maintenance` queue and must be idempotent and safe when
two beats run by mistake.
"""

from __future__ import annotations

from typing import Any

from app.config import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {}
