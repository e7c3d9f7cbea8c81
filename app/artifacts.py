"""Reading a job's artifacts: the reports its movements wrote, the inputs its user posted.

The ledger writes them (app.ledger.add_artifact); this module only reads.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.db import db
from app.models import INPUT, REPORT, JobArtifact


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
