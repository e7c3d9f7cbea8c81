"""Delivering a finished job's result to its callback_url: signed, retried, in its events.

The Celery task that calls this lives in tasks.maintenance.
"""

from __future__ import annotations

import logging
import uuid

from flask import current_app
from sqlalchemy import func, select

from app.config import Settings
from app.contract import DELIVER_CALLBACK, send
from app.db import db
from app.ledger import unit_of_work
from app.models import Job, JobEvent

log = logging.getLogger(__name__)


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def record(job_id: uuid.UUID, kind: str, **data) -> None:
    with unit_of_work() as work:
        work.event(kind, job_id, **data)


def deliver_callback_once(job_id: uuid.UUID, attempt: int) -> str:
    """POST the job's result once; schedule the next try with backoff on failure."""
    from app.callbacks import CallbackRefused, deliver, job_payload

    settings = _settings()
    job = db.session.get(Job, job_id)
    if job is None or not job.callback_url:
        db.session.rollback()
        return "no-callback"
    delivered = db.session.scalar(
        select(func.count())
        .select_from(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.kind == "callback_delivered")
    )
    if delivered:  # a redelivered task after a success: nothing to do
        db.session.rollback()
        return "already-delivered"
    payload = job_payload(job)
    url = job.callback_url
    db.session.rollback()
    try:
        status = deliver(
            url,
            payload,
            secret=settings.callback_secret,
            allow_hosts=settings.callback_allow_hosts,
            timeout=settings.callback_timeout,
        )
        record(job_id, "callback_delivered", attempt=attempt, http_status=status)
        return "delivered"
    except CallbackRefused as exc:
        record(job_id, "callback_refused", attempt=attempt, reason=str(exc))
        return "refused"
    except Exception as exc:
        last = attempt >= settings.callback_max_attempts
        record(
            job_id,
            "callback_failed",
            attempt=attempt,
            reason=f"{type(exc).__name__}: {exc}"[:500],
            final=last,
        )
        if last:
            return "gave-up"
        wait = settings.callback_backoff_seconds * (2 ** (attempt - 1))
        send(DELIVER_CALLBACK, str(job_id), attempt + 1, countdown=wait)
        return "retrying"
