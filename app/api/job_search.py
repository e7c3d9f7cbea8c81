"""Job list filters that need more than equality: id prefix and instruction text.

A job id is a UUID: PostgreSQL prints it with hyphens, SQLite stores 32 hex digits.
Both are compared as bare lowercase hex, so `3f2a` and `3f2a0c1e-…` match either way.
"""

from __future__ import annotations

from sqlalchemy import Select, String, cast, func

from app.db import db
from app.models import Job


def matching(stmt: Select, id_prefix: str | None, text: str | None) -> Select:
    if id_prefix:
        digits = id_prefix.replace("-", "").lower()
        ident = cast(Job.id, String)
        if db.engine.dialect.name != "sqlite":
            ident = func.replace(ident, "-", "")
        stmt = stmt.where(ident.like(digits + "%"))
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Job.instruction.ilike(f"%{escaped}%", escape="\\"))
    return stmt
