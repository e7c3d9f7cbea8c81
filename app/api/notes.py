"""/api/notes: what reflections learned for the caller (owner-scoped)."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from app.api.paging import page
from app.api.spec import spec
from app.auth import principal
from app.db import db
from app.errors import NotFound
from app.notes import Note
from app.schemas import NAME_PATTERN, Query

bp = Blueprint("notes", __name__, url_prefix="/api/notes")


class NotesQuery(Query):
    piece: str | None = Field(default=None, pattern=NAME_PATTERN)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class NoteOut(BaseModel):
    id: uuid.UUID
    owner_id: str
    piece_name: str | None
    content: str
    source_job_id: uuid.UUID | None
    created_at: datetime


class NoteList(BaseModel):
    items: list[NoteOut]
    limit: int
    offset: int
    next_offset: int | None


@spec.route(bp, "", "GET", summary="List your notes", query=NotesQuery, responses={200: NoteList})
def list_notes(query: NotesQuery):
    stmt = (
        select(Note)
        .where(Note.owner_id == principal().owner)
        .order_by(Note.created_at.desc(), Note.id)
    )
    if query.piece:
        stmt = stmt.where(Note.piece_name == query.piece)
    rows, next_offset = page(stmt, query.limit, query.offset)
    return NoteList(
        items=[NoteOut.model_validate(n, from_attributes=True) for n in rows],
        limit=query.limit,
        offset=query.offset,
        next_offset=next_offset,
    )


@spec.route(
    bp,
    "/<uuid:note_id>",
    "DELETE",
    summary="Delete one of your notes",
    responses={204: None},
    errors=(404,),
)
def delete_note(note_id: uuid.UUID):
    # Another owner's note is a 404, like another owner's private job.
    deleted = db.session.execute(
        delete(Note).where(Note.id == note_id, Note.owner_id == principal().owner)
    ).rowcount
    if not deleted:
        db.session.rollback()
        raise NotFound(f"no note {note_id}")
    db.session.commit()
    return "", 204
