"""Names of the maintenance tasks the app side sends, and how it sends them.

The web process must not import the engine (DESIGN.md "Layout"), so job-end hooks
that live in `app` publish by task name, on the `maintenance` queue, after commit.
"""

from __future__ import annotations

from typing import Any

from app.config import MAINTENANCE_QUEUE
from app.dispatch import producer

PREFIX = "legato.maintenance."
REFLECT_JOB = PREFIX + "reflect_job"
DELIVER_CALLBACK = PREFIX + "deliver_callback"


def send_maintenance(name: str, *args: Any, countdown: float | None = None) -> None:
    producer().send_task(
        name,
        args=list(args),
        queue=MAINTENANCE_QUEUE,
        routing_key=MAINTENANCE_QUEUE,
        countdown=countdown,
    )
