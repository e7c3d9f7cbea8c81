"""Notes: what reflection jobs learned, kept per owner (and piece) and fed to later jobs.

`JobReflection` is the once-only marker: its primary key is the reflected job, so
two beats (or the job-end hook racing the sweep) cannot both create a reflection;
the loser's INSERT fails on the key and it rolls back.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import Connection, DateTime, ForeignKey, Index, String, Text, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from app.contract import REFLECT_JOB, send
from app.db import db, utcnow


class Note(db.Model):
    __tablename__ = "notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # None: applies to every piece of the owner.
    piece_name: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    source_job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utcnow(), nullable=False
    )

    __table_args__ = (Index("ix_notes_owner_created", "owner_id", "created_at"),)


class JobReflection(db.Model):
    """One row per reflected job: created (with the reflection job) or skipped (why)."""

    __tablename__ = "job_reflections"

    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    reflection_job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utcnow(), nullable=False
    )


MAX_NOTE_CHARS = 500


def notes_for(conn: Connection, owner_id: str, piece_name: str | None, budget: int) -> str | None:
    """The owner's notes for this piece (and general ones), newest first, within `budget`.

    Read on the caller's connection (the claim's or the handoff's transaction): the ORM
    session would check a second connection out of the pool and keep it, idle in a
    transaction, until the task ends, LLM call included."""
    if budget <= 0:
        return None
    rows = conn.scalars(
        select(Note.content)
        .where(
            Note.owner_id == owner_id,
            (Note.piece_name.is_(None)) | (Note.piece_name == piece_name),
        )
        .order_by(Note.created_at.desc(), Note.id)
        .limit(50)
    )
    lines: list[str] = []
    used = 0
    for content in rows:
        line = f"- {content.strip()}"
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines) or None


def parse_notes(output: str, limit: int = 10) -> list[str]:
    """Lessons from a reflection's output: its bullet lines, or its first paragraph."""
    bullets = []
    for raw in output.splitlines():
        line = raw.strip()
        if line[:2] in ("- ", "* ") or (line[:1].isdigit() and line[1:3] in (". ", ") ")):
            text = line[2:] if not line[:1].isdigit() else line[3:]
            text = _strip_tags(text).strip()
            if text:
                bullets.append(text[:MAX_NOTE_CHARS])
    if not bullets:
        text = _strip_tags(output.strip().split("\n\n", 1)[0]).strip()
        bullets = [text[:MAX_NOTE_CHARS]] if text else []
    return bullets[:limit]


def _strip_tags(text: str) -> str:
    """Drop status tags (``[MOVEMENT:N]``) a model may have left in its notes."""
    return _TAG.sub("", text)


_TAG = re.compile(r"\[[A-Za-z0-9_.-]+:\d+\]")
REFLECTION_KIND = "reflection"
REFLECTABLE = ("succeeded", "failed")


def save_notes_from(reflection_job_id: uuid.UUID) -> int:
    """A finished reflection's notes (its notes.md report, else its output) -> Note rows.

    Runs inside the ending transaction (a job-end hook), so the notes and the job's
    end commit together and a duplicate finish cannot write them twice.
    """
    from app.artifacts import latest_reports
    from app.models import Job

    job = db.session.get(Job, reflection_job_id)
    reports = latest_reports(reflection_job_id)
    text = reports["notes.md"].content if "notes.md" in reports else (job.result or "")
    source = db.session.get(Job, job.parent_job_id) if job.parent_job_id else None
    notes = parse_notes(text)
    for content in notes:
        db.session.add(
            Note(
                owner_id=job.owner_id,
                piece_name=source.piece_name if source is not None else None,
                content=content,
                source_job_id=job.parent_job_id,
            )
        )
    return len(notes)


def reflect_when_done(work, job_id: uuid.UUID, status: str) -> None:
    """Job-end hook: a succeeded reflection writes its notes; any other finished job asks
    the maintenance queue for its reflection (after commit). The beat's
    `enqueue_reflections` sweep catches whatever this misses."""
    from flask import current_app

    from app.models import Job

    job = db.session.get(Job, job_id)
    if job is None:
        return
    if job.task_kind == REFLECTION_KIND:
        if status == "succeeded":
            save_notes_from(job_id)
        return
    if (
        status not in REFLECTABLE
        or not current_app.extensions["legato.settings"].reflection_enabled
    ):
        return
    work.after(lambda: send(REFLECT_JOB, str(job_id)))
