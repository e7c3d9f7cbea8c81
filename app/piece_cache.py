"""Parsed pieces by job: a job's stored piece never changes, so it is parsed once per process.

Every claim (and the API's retry and replay) needs the job's resolved piece; rebuilding
it from the stored JSON with pydantic on every movement was the largest single cost of
a claim, so a small LRU keeps the parsed model.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.engine import Connection

from app.models import Job
from pieces import Piece

_jobs = Job.__table__


class PieceCache:
    """Parsed pieces by job: a job's stored piece never changes, so parse it once."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[uuid.UUID, Piece] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, conn: Connection, job_id: uuid.UUID) -> Piece:
        with self._lock:
            piece = self._items.get(job_id)
            if piece is not None:
                self._items.move_to_end(job_id)
                return piece
        snapshot = conn.execute(
            select(_jobs.c.piece_snapshot).where(_jobs.c.id == job_id)
        ).scalar_one()
        piece = Piece.model_validate(snapshot)
        with self._lock:
            self._items[job_id] = piece
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return piece


pieces = PieceCache()


pieces = PieceCache()
