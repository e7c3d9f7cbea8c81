"""/api/jobs: submit, list, show and cancel jobs (their events: app.api.events)."""

from __future__ import annotations

import json
import logging
import uuid

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select

from app.api.paging import page
from app.api.spec import spec
from app.auth import Principal, principal
from app.catalog import load_for_job
from app.config import Settings
from app.db import db
from app.errors import Conflict, Forbidden, NotFound, TooLarge, Unprocessable
from app.jobs import cancel_job, create_job, send_all
from app.lifecycle import run_after_commit
from app.models import Job, MovementRun
from app.schemas import (
    JobCreate,
    JobDetail,
    JobList,
    JobListQuery,
    JobOut,
    MovementRunOut,
)
from app.status import JOB_TERMINAL

log = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def visible_job(job_id: uuid.UUID, who: Principal) -> Job:
    """The job if this principal may see it; anything else is a 404, never a hint."""
    job = db.session.get(Job, job_id)
    if job is None or not (job.owner_id == who.owner or job.visibility == "public" or who.admin):
        raise NotFound(f"no job {job_id}")
    return job


def owned_job(job_id: uuid.UUID, who: Principal, doing: str) -> Job:
    """The job if this principal may change it: its owner or an admin (others: 403/404)."""
    job = visible_job(job_id, who)
    if job.owner_id != who.owner and not who.admin:
        raise Forbidden(f"only the job's owner may {doing}")
    return job


@spec.route(bp, "", "POST", summary="Submit a job", body=JobCreate, responses={201: JobOut})
def submit_job(body: JobCreate):
    settings = _settings()
    who = principal()
    size = len(body.instruction.encode())
    if size > settings.max_instruction_bytes:
        raise TooLarge(
            f"instruction is {size} bytes; the limit is {settings.max_instruction_bytes}"
        )
    payload_size = len(json.dumps(body.payload, ensure_ascii=False, separators=(",", ":")).encode())
    if payload_size > settings.max_payload_bytes:
        raise TooLarge(
            f"payload is {payload_size} bytes as JSON; the limit is {settings.max_payload_bytes}"
        )
    tier = body.tier or settings.default_tier
    if tier not in settings.tiers:
        raise Unprocessable(
            f"unknown tier {tier!r}", code="unknown_tier", details={"tiers": list(settings.tiers)}
        )
    piece = load_for_job(who.owner, body.piece or settings.default_piece, settings)
    job, dispatches = create_job(
        owner_id=who.owner,
        instruction=body.instruction,
        piece=piece,
        tier=tier,
        max_attempts=body.max_attempts,
        visibility=body.visibility,
        payload=body.payload,
    )
    if body.callback_url:
        job.callback_url = _checked_callback(body.callback_url, settings)
    db.session.flush()
    # The answer is made before the commit: a job that cannot be shown is never stored.
    response = jsonify(JobOut.model_validate(job, from_attributes=True).model_dump(mode="json"))
    response.status_code = 201
    db.session.commit()
    try:
        send_all(dispatches)
    except Exception:  # the job is committed; the reconciler re-sends what was not published
        log.warning(
            "job %s accepted but not yet enqueued (broker unreachable)", job.id, exc_info=True
        )
    return response


@spec.route(
    bp, "", "GET", summary="List jobs", query=JobListQuery, responses={200: JobList}, errors=(403,)
)
def list_jobs(query: JobListQuery):
    who = principal()
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id)
    if query.owner is not None and query.owner != who.owner and not who.admin:
        raise Forbidden("only admins may list other owners' jobs")
    owner = query.owner or who.owner
    if owner != "*":
        stmt = stmt.where(Job.owner_id == owner)
    if query.status:
        stmt = stmt.where(Job.status == query.status)
    if query.piece:
        stmt = stmt.where(Job.piece_name == query.piece)
    rows, next_offset = page(stmt, query.limit, query.offset)
    return JobList(
        items=[JobOut.model_validate(j, from_attributes=True) for j in rows],
        limit=query.limit,
        offset=query.offset,
        next_offset=next_offset,
    )


@spec.route(
    bp,
    "/<uuid:job_id>",
    "GET",
    summary="Show a job with its movement runs",
    responses={200: JobDetail},
    errors=(404,),
)
def get_job(job_id: uuid.UUID):
    job = visible_job(job_id, principal())
    runs = db.session.scalars(
        select(MovementRun)
        .where(MovementRun.job_id == job.id)
        .order_by(MovementRun.attempt, MovementRun.iteration, MovementRun.created_at)
    ).all()
    out = JobOut.model_validate(job, from_attributes=True).model_dump()
    out["runs"] = [MovementRunOut.model_validate(r, from_attributes=True) for r in runs]
    return JobDetail.model_validate(out)


@spec.route(
    bp,
    "/<uuid:job_id>/cancel",
    "POST",
    summary="Cancel a job",
    responses={200: JobOut},
    errors=(403, 404, 409),
)
def cancel(job_id: uuid.UUID):
    who = principal()
    job = owned_job(job_id, who, "cancel it")
    after = None if job.status in JOB_TERMINAL else cancel_job(job, f"cancelled by {who.owner}")
    if after is None:
        db.session.rollback()
        current = db.session.get(Job, job_id)
        raise Conflict(
            f"job is {current.status}; only unfinished jobs can be cancelled",
            code="illegal_state",
            details={"status": current.status},
        )
    db.session.commit()
    run_after_commit(after)
    db.session.refresh(job)
    return JobOut.model_validate(job, from_attributes=True)


def _checked_callback(url: str, settings: Settings) -> str:
    """Refuse callback targets on our own network now rather than at delivery."""
    from app.callbacks import CallbackFailed, CallbackRefused, check_url

    try:
        return check_url(url, settings.callback_allow_hosts)
    except CallbackRefused as exc:
        db.session.rollback()
        raise Unprocessable(str(exc), code="callback_refused") from None
    except CallbackFailed:  # unresolvable today; delivery re-checks every try
        return url
