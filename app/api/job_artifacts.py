"""/api/jobs/{id}/inputs and /reports: what a user tells a running job, what it wrote."""

from __future__ import annotations

import uuid

from flask import Blueprint

from app.api.jobs import owned_job, visible_job
from app.api.spec import spec
from app.artifacts import add_input, latest_reports
from app.auth import principal
from app.db import db
from app.errors import Conflict, NotFound
from app.jobs import resume_job, send_all
from app.models import JobArtifact
from app.schemas import InputCreate, InputOut, ReportList, ReportOut, ReportSummary
from app.status import JOB_TERMINAL, JobStatus
from app.transitions import lock_job, record_event

bp = Blueprint("job_artifacts", __name__, url_prefix="/api/jobs")


@spec.route(
    bp,
    "/<uuid:job_id>/inputs",
    "POST",
    summary="Give a job user input; a job waiting for input resumes",
    body=InputCreate,
    responses={201: InputOut},
    errors=(403, 404, 409),
)
def post_input(job_id: uuid.UUID, body: InputCreate):
    job = owned_job(job_id, principal(), "give it input")
    status = lock_job(job.id)
    if status in JOB_TERMINAL:
        db.session.rollback()
        raise Conflict(
            f"job is {status}; it takes no more input",
            code="illegal_state",
            details={"status": status},
        )
    artifact = add_input(job.id, body.text, job.attempt)
    record_event(job.id, "input_received", chars=len(body.text))
    dispatches = []
    if status == JobStatus.WAITING_HUMAN:
        dispatches = resume_job(job, JobStatus.WAITING_HUMAN, "user input")
        status = JobStatus.QUEUED.value
    db.session.commit()
    send_all(dispatches)
    return InputOut(
        id=artifact.id, text=artifact.content, job_status=status, created_at=artifact.created_at
    ), 201


@spec.route(
    bp,
    "/<uuid:job_id>/reports",
    "GET",
    summary="Reports the job's movements wrote",
    responses={200: ReportList},
    errors=(404,),
)
def list_reports(job_id: uuid.UUID):
    job = visible_job(job_id, principal())
    return ReportList(items=[_summary(a) for a in latest_reports(job.id).values()])


@spec.route(
    bp,
    "/<uuid:job_id>/reports/<name>",
    "GET",
    summary="One report, latest version",
    responses={200: ReportOut},
    errors=(404,),
)
def get_report(job_id: uuid.UUID, name: str):
    job = visible_job(job_id, principal())
    artifact = latest_reports(job.id).get(name)
    if artifact is None:
        raise NotFound(f"job {job_id} has no report {name!r}")
    return ReportOut(**_summary(artifact).model_dump(), content=artifact.content)


def _summary(artifact: JobArtifact) -> ReportSummary:
    return ReportSummary(
        name=artifact.name,
        attempt=artifact.attempt,
        movement_run_id=artifact.movement_run_id,
        size=len(artifact.content),
        created_at=artifact.created_at,
    )
