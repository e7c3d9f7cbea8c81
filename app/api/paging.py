"""Offset pagination for list endpoints: one extra row tells whether a next page exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from app.db import db


def page(stmt: Select, limit: int, offset: int) -> tuple[list[Any], int | None]:
    """The rows of one page and the next page's offset (None on the last page)."""
    rows = db.session.scalars(stmt.offset(offset).limit(limit + 1)).all()
    more = len(rows) > limit
    return list(rows[:limit]), offset + limit if more else None
