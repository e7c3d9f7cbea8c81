"""Kept while the API modules move to app.contract; new code imports app.contract."""

from __future__ import annotations

from app.contract import producer, reset_producer, send_run, wake_if_scaled_to_zero

__all__ = ["enqueue_movement", "producer", "reset_producer", "wake_if_scaled_to_zero"]


def enqueue_movement(run_id, *, job_id, movement: str, tier: str) -> None:
    send_run(run_id, job_id=job_id, movement=movement, queue=tier)
