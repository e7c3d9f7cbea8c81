"""Kept while the app modules move to app.contract; new code imports app.contract."""

from __future__ import annotations

from typing import Any

from app.contract import DELIVER_CALLBACK, MAINTENANCE_PREFIX, REFLECT_JOB, send

PREFIX = MAINTENANCE_PREFIX
__all__ = ["DELIVER_CALLBACK", "PREFIX", "REFLECT_JOB", "send_maintenance"]


def send_maintenance(name: str, *args: Any, countdown: float | None = None) -> None:
    send(name, *args, countdown=countdown)
