"""The handoff a failed attempt leaves for the next one (TAKT's "Retry Note").

Why the attempt failed, what it did (movement -> next, errors, short output previews),
the tools it used, recent lessons, and an instruction not to repeat finished work. Every
part is capped, so the handoff (which rides in every Phase 1 prompt of the next
attempt) stays within HANDOFF_MAX_CHARS.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.engine import Connection

from app.history import history_lines
from app.models import JobEvent, MovementRun

HANDOFF_PREVIEW_CHARS = 200


def build_handoff(conn: Connection, job_id: uuid.UUID, job, reason: str, max_chars: int) -> str:
    """`job` carries attempt, max_attempts, owner_id and piece_name."""
    from app.notes import notes_for

    runs = conn.execute(
        select(MovementRun.__table__)
        .where(MovementRun.job_id == job_id, MovementRun.attempt == job.attempt)
        .order_by(MovementRun.iteration, MovementRun.created_at)
    ).all()
    lines = [
        f"Attempt {job.attempt} of {job.max_attempts} failed.",
        f"Failure reason: {reason[:500]}",
        "",
        "Movement history of that attempt:",
    ]
    lines += history_lines(runs[-20:], preview_chars=HANDOFF_PREVIEW_CHARS, error_chars=160)
    tools = _tools_used(conn, job_id)
    if tools:
        lines += ["", f"Tools used: {', '.join(tools)}"]
    lessons = notes_for(conn, job.owner_id, job.piece_name, min(800, max_chars // 4))
    if lessons:
        lines += ["", "Recent lessons:", lessons]
    lines += [
        "",
        "Do not repeat work the history shows as finished; fix what made it fail, then continue.",
    ]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = text[: max_chars - 15].rstrip() + "\n[...truncated]"
    return text


def _tools_used(conn: Connection, job_id: uuid.UUID) -> list[str]:
    rows = conn.execute(
        select(JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.kind == "tool_call")
        .order_by(JobEvent.id.desc())
        .limit(50)
    ).scalars()
    names: list[str] = []
    for data in rows:
        name = (data or {}).get("tool")
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names[:10]
