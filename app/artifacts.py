"""A job's artifacts: reports its movements wrote and inputs its user posted."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.db import db
from app.models import JobArtifact

REPORT, INPUT, HANDOFF = "report", "input", "handoff"


def save_reports(
    job_id: uuid.UUID, attempt: int, run_id: uuid.UUID, reports: dict[str, str]
) -> None:
    """Append report versions; readers take the latest per name."""
    for name, content in reports.items():
        db.session.add(
            JobArtifact(
                job_id=job_id,
                kind=REPORT,
                name=name,
                content=content,
                attempt=attempt,
                movement_run_id=run_id,
            )
        )


def add_input(job_id: uuid.UUID, text: str, attempt: int) -> JobArtifact:
    artifact = JobArtifact(job_id=job_id, kind=INPUT, name="input", content=text, attempt=attempt)
    db.session.add(artifact)
    return artifact


def _of_kind(job_id: uuid.UUID, kind: str) -> list[JobArtifact]:
    return list(
        db.session.scalars(
            select(JobArtifact)
            .where(JobArtifact.job_id == job_id, JobArtifact.kind == kind)
            .order_by(JobArtifact.created_at, JobArtifact.id)
        )
    )


def latest_reports(job_id: uuid.UUID) -> dict[str, JobArtifact]:
    latest: dict[str, JobArtifact] = {}
    for artifact in _of_kind(job_id, REPORT):
        latest[artifact.name] = artifact  # ordered oldest first, so the last one wins
    return latest


def user_inputs(job_id: uuid.UUID) -> list[str]:
    return [a.content for a in _of_kind(job_id, INPUT)]
