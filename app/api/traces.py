"""/api/jobs/{id}/traces (every tool call) and /answer (resume after ask_human)."""

from __future__ import annotations

import uuid

from flask import Blueprint
from sqlalchemy import select

from app.agent_schemas import AnswerIn, AnswerOut, TraceList, TraceOut
from app.api.jobs import owned_job, visible_job
from app.api.spec import spec
from app.artifacts import add_input
from app.auth import principal
from app.db import db
from app.errors import Conflict
from app.jobs import resume_job, send_all
from app.status import JobStatus
from app.traces import ToolTraceRow
from app.transitions import lock_job, record_event

bp = Blueprint("job_agents", __name__, url_prefix="/api/jobs")


@spec.route(
    bp,
    "/<uuid:job_id>/traces",
    "GET",
    summary="Every tool call the job's agents made, in order",
    responses={200: TraceList},
    errors=(404,),
)
def list_traces(job_id: uuid.UUID):
    job = visible_job(job_id, principal())
    rows = db.session.scalars(
        select(ToolTraceRow).where(ToolTraceRow.job_id == job.id).order_by(ToolTraceRow.id)
    ).all()
    return TraceList(items=[TraceOut.model_validate(r, from_attributes=True) for r in rows])


@spec.route(
    bp,
    "/<uuid:job_id>/answer",
    "POST",
    summary="Answer the question a job asked (ask_human); the job resumes",
    body=AnswerIn,
    responses={200: AnswerOut},
    errors=(403, 404, 409),
)
def answer(job_id: uuid.UUID, body: AnswerIn):
    job = owned_job(job_id, principal(), "answer its questions")
    status = lock_job(job.id)
    if status != JobStatus.WAITING_HUMAN:
        db.session.rollback()
        raise Conflict(
            f"job is {status}; only a job waiting for a human takes an answer",
            code="illegal_state",
            details={"status": status},
        )
    add_input(job.id, body.answer, job.attempt)
    record_event(job.id, "human_answered", chars=len(body.answer))
    dispatches = resume_job(job, JobStatus.WAITING_HUMAN, "answer")
    db.session.commit()
    send_all(dispatches)
    return AnswerOut(job_status=JobStatus.QUEUED.value, resumed=True)
