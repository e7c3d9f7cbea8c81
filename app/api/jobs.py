"""/api/jobs: submit, list, show and cancel jobs (their events: app.api.events)."""

from __future__ import annotations

import json
import logging
import uuid

from flask import Blueprint, current_app
from sqlalchemy import select

from app.api.paging import page
from app.api.spec import spec
from app.auth import Principal, principal
from app.catalog import load_for_job
from app.config import Settings
from app.db import db
from app.errors import Forbidden, NotFound, TooLarge, Unprocessable
from app.job_actions import cancel_job, submit
from app.job_actions import retry as retry_job
from app.ledger import end_read
from app.models import Job, MovementRun, RunPhase
from app.piece_cache import pieces
from app.replay import replay
from app.schemas import (
    ChildJobOut,
    JobCreate,
    JobDetail,
    JobList,
    JobListQuery,
    JobOut,
    MovementRunOut,
    PhaseOut,
    ReplayCreate,
)

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


@spec.route(
    bp, "", "POST", summary="Submit a job", body=JobCreate, responses={201: JobOut}, errors=(429,)
)
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
    callback = _checked_callback(body.callback_url, settings) if body.callback_url else None
    end_read()
    job_id = submit(
        owner_id=who.owner,
        instruction=body.instruction,
        piece=piece,
        tier=tier,
        max_attempts=body.max_attempts,
        visibility=body.visibility,
        payload=body.payload,
        interactive=body.interactive,
        callback_url=callback,
    )
    return JobOut.model_validate(db.session.get(Job, job_id), from_attributes=True), 201


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
    if query.tier:
        stmt = stmt.where(Job.tier == query.tier)
    if query.id_prefix or query.q:
        from app.api.job_search import matching

        stmt = matching(stmt, query.id_prefix, query.q)
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
    phases: dict[uuid.UUID, list[PhaseOut]] = {}
    for row in db.session.execute(
        select(
            *[
                c
                for c in RunPhase.__table__.c
                if c.name not in ("prompt", "system", "answer", "structured")
            ]
        )
        .where(RunPhase.job_id == job.id)
        .order_by(RunPhase.run_id, RunPhase.seq)
    ):
        phases.setdefault(row.run_id, []).append(PhaseOut.model_validate(row, from_attributes=True))
    out = JobOut.model_validate(job, from_attributes=True).model_dump()
    out["runs"] = [
        MovementRunOut.model_validate(r, from_attributes=True).model_copy(
            update={"phases": phases.get(r.id, [])}
        )
        for r in runs
    ]
    children = db.session.scalars(
        select(Job).where(Job.parent_job_id == job.id).order_by(Job.created_at, Job.id)
    ).all()
    out["children"] = [ChildJobOut.model_validate(c, from_attributes=True) for c in children]
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
    owned_job(job_id, who, "cancel it")
    end_read()
    cancel_job(job_id, f"cancelled by {who.owner}")
    return JobOut.model_validate(db.session.get(Job, job_id), from_attributes=True)


@spec.route(
    bp,
    "/<uuid:job_id>/retry",
    "POST",
    summary="Retry a failed or cancelled job: a new attempt from its first movement",
    responses={202: JobOut},
    errors=(403, 404, 409),
)
def retry(job_id: uuid.UUID):
    who = principal()
    owned_job(job_id, who, "retry it")
    piece = pieces.get(db.session.connection(), job_id)
    end_read()
    retry_job(job_id, piece, who.owner)
    return JobOut.model_validate(db.session.get(Job, job_id), from_attributes=True), 202


@spec.route(
    bp,
    "/<uuid:job_id>/replay",
    "POST",
    summary="Replay a finished job from a movement, with everything as it stood before it",
    body=ReplayCreate,
    responses={202: JobOut},
    errors=(403, 404, 409, 422),
)
def replay_job(job_id: uuid.UUID, body: ReplayCreate):
    who = principal()
    owned_job(job_id, who, "replay it")
    piece = pieces.get(db.session.connection(), job_id)
    end_read()
    replay(
        job_id, piece, body.movement, attempt=body.attempt, iteration=body.iteration, who=who.owner
    )
    return JobOut.model_validate(db.session.get(Job, job_id), from_attributes=True), 202


def _checked_callback(url: str, settings: Settings) -> str:
    """Refuse callback targets on our own network now rather than at delivery."""
    from app.callbacks import CallbackFailed, CallbackRefused, check_url

    try:
        return check_url(url, settings.callback_allow_hosts)
    except CallbackRefused as exc:
        raise Unprocessable(str(exc), code="callback_refused") from None
    except CallbackFailed:  # unresolvable today; delivery re-checks every try
        return url
