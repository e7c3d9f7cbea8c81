"""A job's artifacts: reports its movements wrote and inputs its user posted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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


@dataclass(frozen=True)
class JobTexts:
    """What a prompt needs from a job's artifacts, read in one query."""

    reports: dict[str, str]
    inputs: list[str]
    handoff: str | None


def job_texts(job_id: uuid.UUID, attempt: int) -> JobTexts:
    """Latest report per name, every user input, and the previous attempt's handoff."""
    reports: dict[str, str] = {}
    inputs: list[str] = []
    handoffs: list[JobArtifact] = []
    rows = db.session.scalars(
        select(JobArtifact)
        .where(JobArtifact.job_id == job_id, JobArtifact.kind.in_((REPORT, INPUT, HANDOFF)))
        .order_by(JobArtifact.created_at, JobArtifact.id)
    )
    for artifact in rows:
        if artifact.kind == REPORT:
            reports[artifact.name] = artifact.content  # oldest first: the last one wins
        elif artifact.kind == INPUT:
            inputs.append(artifact.content)
        elif artifact.attempt < attempt:
            handoffs.append(artifact)
    latest = max(handoffs, key=lambda a: a.attempt, default=None)
    return JobTexts(reports=reports, inputs=inputs, handoff=latest.content if latest else None)
