"""/api/jobs/{id}/traces (every tool call) and /answer (resume after ask_human)."""

from __future__ import annotations

import uuid

from flask import Blueprint
from sqlalchemy import select

from app.agent_schemas import AnswerIn, AnswerOut, TraceList, TraceOut
from app.api.jobs import owned_job, visible_job
from app.api.spec import spec
from app.auth import principal
from app.db import db
from app.job_actions import answer as answer_job
from app.ledger import end_read
from app.status import JobStatus
from app.traces import ToolTraceRow

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
    owned_job(job_id, principal(), "answer its questions")
    end_read()
    answer_job(job_id, body.answer)
    return AnswerOut(job_status=JobStatus.QUEUED.value, resumed=True)
