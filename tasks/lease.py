"""Keeps a claimed movement run's lease alive while its LLM call is in flight."""

from __future__ import annotations

import logging
import threading
import uuid

from flask import Flask

from app.db import db
from app.transitions import renew_lease

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the lease every third of its length from a side thread.

    `lost` is set when a renewal finds the run no longer ours (cancelled, or timed
    out by the recovery sweep); the worker then stops and discards its output.
    """

    def __init__(self, flask_app: Flask, run_id: uuid.UUID, owner: str, lease_seconds: float):
        self._app = flask_app
        self._run_id = run_id
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._interval = max(lease_seconds / 3.0, 0.5)
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._app.app_context():
                    held = renew_lease(self._run_id, self._owner, self._lease_seconds)
                    db.session.commit()
            except Exception:  # a database blip: the next beat tries again
                log.warning("lease renewal for run %s failed", self._run_id, exc_info=True)
                continue
            if not held:
                self.lost.set()
                return
