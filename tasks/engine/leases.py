"""Keeping claimed leases alive: one renewer per worker process, one statement per beat.

Every movement run and agent turn a process is working on is registered here; a single
background thread extends all of their leases with one UPDATE per kind every third of
the lease, so hundreds of calls in flight cost two statements per interval, not one
thread and one statement each. A claim the UPDATE no longer finds (cancelled, or timed
out by the recovery sweep) is marked lost: its worker stops and discards its work.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

from flask import Flask

from app.ledger import renew_leases, unit_of_work
from app.ledger.agent_tasks import renew_task_leases

RUN, TASK = "run", "task"

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Held:
    id: uuid.UUID  # the movement run's or the agent task's
    owner: str
    kind: str = RUN
    lost: threading.Event = field(default_factory=threading.Event)


class Leases:
    def __init__(self, flask_app: Flask, lease_seconds: float) -> None:
        self._app = flask_app
        self._seconds = lease_seconds
        self._interval = max(lease_seconds / 3.0, 0.5)
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, claimed_id: uuid.UUID, owner: str, kind: str = RUN) -> Held:
        held = Held(claimed_id, owner, kind)
        with self._lock:
            self._held[owner] = held
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="lease-renewer", daemon=True
                )
                self._thread.start()
        return held

    def release(self, held: Held) -> None:
        with self._lock:
            self._held.pop(held.owner, None)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            with self._lock:
                held = list(self._held.values())
            if not held:
                continue
            try:
                with self._app.app_context(), unit_of_work() as work:
                    owners = {RUN: [], TASK: []}
                    for h in held:
                        owners[h.kind].append(h.owner)
                    still = renew_leases(work, owners[RUN], self._seconds)
                    still |= renew_task_leases(work, owners[TASK], self._seconds)
            except Exception:  # a database blip: the next beat tries again
                log.warning("lease renewal failed", exc_info=True)
                continue
            for h in held:
                if h.id not in still:
                    with self._lock:
                        registered = self._held.get(h.owner) is h
                    if registered:
                        h.lost.set()


_registry: Leases | None = None
_registry_lock = threading.Lock()


def leases(flask_app: Flask, lease_seconds: float) -> Leases:
    """The process's renewer (created on first use)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = Leases(flask_app, lease_seconds)
        return _registry
