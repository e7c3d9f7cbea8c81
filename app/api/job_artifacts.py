"""/api/jobs/{id}/inputs and /reports: what a user tells a running job, what it wrote."""

from __future__ import annotations

import uuid

from flask import Blueprint
from sqlalchemy import select

from app.api.jobs import owned_job, visible_job
from app.api.spec import spec
from app.artifacts import latest_reports
from app.auth import principal
from app.db import db
from app.errors import NotFound
from app.job_actions import give_input
from app.ledger import INPUT, end_read
from app.models import JobArtifact
from app.schemas import InputCreate, InputOut, ReportList, ReportOut, ReportSummary

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
    end_read()
    status = give_input(job.id, body.text)
    artifact = db.session.scalars(
        select(JobArtifact)
        .where(JobArtifact.job_id == job_id, JobArtifact.kind == INPUT)
        .order_by(JobArtifact.created_at.desc(), JobArtifact.id)
        .limit(1)
    ).one()
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
