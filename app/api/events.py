"""GET /api/jobs/{id}/events: a job's event log, or (follow=1) its live event stream.

A stream is a generator the server drives; under `legato api` (gevent workers) an open
one costs a greenlet, not a request thread. Each holds one of its owner's
STREAMS_PER_OWNER slots (429 beyond that) and ends after STREAM_MAX_SECONDS; clients
resume from where they were with `Last-Event-ID` (EventSource does this by itself, the
CLI's --follow too).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from sqlalchemy import select

from app.api.jobs import visible_job
from app.api.spec import spec
from app.auth import principal
from app.db import db
from app.errors import ApiError, error_body
from app.models import Job, JobEvent
from app.schemas import EventList, EventOut, EventsQuery
from app.status import JOB_TERMINAL
from app.streams import StreamSlot, TooManyStreams, open_slot

bp = Blueprint("events", __name__, url_prefix="/api/jobs")

SSE_POLL_SECONDS = 0.25
SSE_KEEPALIVE_SECONDS = 15.0
# What EventSource waits before it reconnects after a stream ends (milliseconds).
SSE_RETRY_MS = 1000
# A slot frees when a stream ends, so a refused client may try again soon.
RETRY_AFTER_SECONDS = 5
EVENT_BATCH = 500

# Event ids are BIGINT row ids: 1 to 18 ASCII digits always fit, and nothing else is one
# (str.isdigit() also accepts "²" and "١", which int() then refuses or reads).
_EVENT_ID = re.compile(r"[0-9]{1,18}")


def event_id(value: str, where: str) -> int:
    """An event id from the client, or a 400 that says what one looks like."""
    if not _EVENT_ID.fullmatch(value):
        raise ApiError(
            f"{where} must be an event id: 1 to 18 digits 0-9",
            code="malformed",
            details={"loc": where},
        )
    return int(value)


@spec.route(
    bp,
    "/<uuid:job_id>/events",
    "GET",
    summary="A job's events; with follow=1, a text/event-stream until the job ends",
    query=EventsQuery,
    responses={200: EventList},
    errors=(404, 429),
)
def job_events(job_id: uuid.UUID, query: EventsQuery):
    who = principal()
    job = visible_job(job_id, who)
    after = event_id(query.after, "after")
    if not query.follow:
        events = _events_after(job.id, after, query.limit)
        return EventList(
            items=[EventOut.model_validate(e, from_attributes=True) for e in events],
            job_status=job.status,
        )
    last_event_id = request.headers.get("Last-Event-ID", "")
    if last_event_id:
        after = max(after, event_id(last_event_id, "Last-Event-ID"))
    settings = current_app.extensions["legato.settings"]
    try:
        slot = open_slot(who.owner, settings)
    except TooManyStreams as exc:
        refused = jsonify(error_body(exc.code, exc.message, exc.details))
        refused.status_code = exc.status
        refused.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return refused
    # Hold no transaction while streaming, and read nothing of `job` after this: on
    # SQLite that read would begin a write-locked transaction (app.db) lasting until the
    # next poll, and every other stream of this gevent worker would wait on it.
    db.session.rollback()
    response = Response(
        stream_with_context(_stream(job_id, after, slot, settings.stream_max_seconds)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # The server closes the response however the stream ends (even before it started).
    response.call_on_close(slot.release)
    return response


def _events_after(job_id: uuid.UUID, after: int, limit: int) -> list[JobEvent]:
    return list(
        db.session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after)
            .order_by(JobEvent.id)
            .limit(limit)
        )
    )


def _poll(job_id: uuid.UUID, after: int) -> tuple[str | None, list[tuple[int, str, str]]]:
    """The job's status and its next events, rendered, in one short transaction."""
    try:
        # Status first: if it is terminal now, every event up to the end is committed.
        status = db.session.scalar(select(Job.status).where(Job.id == job_id))
        events = [
            (
                event.id,
                event.kind,
                json.dumps(
                    EventOut.model_validate(event, from_attributes=True).model_dump(mode="json")
                ),
            )
            for event in _events_after(job_id, after, EVENT_BATCH)
        ]
    finally:
        db.session.rollback()  # before any yield: no connection or lock held while idle
    return status, events


def _stream(job_id: uuid.UUID, after: int, slot: StreamSlot, max_seconds: float) -> Iterator[str]:
    started = last_sent = time.monotonic()
    try:
        yield f"retry: {SSE_RETRY_MS}\n: following job events\n\n"
        while True:
            status, events = _poll(job_id, after)
            for event_id, kind, data in events:
                after = event_id
                yield f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"
                last_sent = time.monotonic()
            if len(events) == EVENT_BATCH:
                continue
            if status in JOB_TERMINAL:
                yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                return
            now = time.monotonic()
            if now - started >= max_seconds:
                # Not an error: the client reconnects with Last-Event-ID and goes on.
                yield ": stream lifetime reached (STREAM_MAX_SECONDS); reconnect\n\n"
                return
            if now - last_sent > SSE_KEEPALIVE_SECONDS:
                yield ": keepalive\n\n"
                last_sent = now
            time.sleep(SSE_POLL_SECONDS)
    finally:
        slot.release()
