"""Hooks that run when a job ends, whoever ends it (a worker, a cancel, a sweep).

A hook runs inside the transaction that ends the job and returns what must happen
after that transaction commits (enqueueing, delivery); the caller runs those.
Modules register with `@on_job_end`; HOOK_MODULES lists the modules to import so
their hooks exist in every process.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable

log = logging.getLogger(__name__)

AfterCommit = Callable[[], None]
JobEndHook = Callable[[uuid.UUID, str], list[AfterCommit] | None]

# Modules that register hooks; imported once, on first use.
HOOK_MODULES: list[str] = [
    "app.notes",  # a finished job asks for its reflection; a reflection writes notes
    "app.callbacks",  # a job's callback_url is told the result
    "app.subtasks",  # a parent resumes when its subtasks have ended
]

_hooks: list[JobEndHook] = []
_loaded = False


def on_job_end(hook: JobEndHook) -> JobEndHook:
    _hooks.append(hook)
    return hook


def job_ended(job_id: uuid.UUID, status: str) -> list[AfterCommit]:
    """Run every hook for a job that just reached `status`; returns the after-commit work."""
    global _loaded
    if not _loaded:
        for module in HOOK_MODULES:
            importlib.import_module(module)
        _loaded = True
    after: list[AfterCommit] = []
    for hook in _hooks:
        after.extend(hook(job_id, status) or [])
    return after


def run_after_commit(actions: list[AfterCommit]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # the beat sweeps re-send what a failed publish left behind
            log.warning("after-commit action %r failed", action, exc_info=True)
