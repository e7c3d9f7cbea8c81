"""What happens when a job ends, whoever ends it (a worker, a cancel, a sweep).

The hooks are an explicit list, registered by create_app; the ledger runs each inside
the unit of work that ends the job (app.ledger.jobs.job_ended). A hook writes through
that unit and schedules anything that must wait for the commit with `work.after`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Flask

from app.ledger import Work

JobEndHook = Callable[[Work, uuid.UUID, str], None]


def job_end_hooks() -> list[JobEndHook]:
    from app.callbacks import schedule_callback
    from app.calls import call_ended
    from app.notes import reflect_when_done
    from app.subtasks import child_ended, orphan_children

    return [
        reflect_when_done,  # a finished job asks for its reflection; a reflection writes notes
        schedule_callback,  # a job's callback_url is told the result
        child_ended,  # a parent resumes when its subtasks have ended
        call_ended,  # a workflow_call run routes once its called workflow has ended
        orphan_children,  # a parent that ends cancels its unfinished children
    ]


AttemptRetryHook = Callable[[Work, uuid.UUID, int], None]


def attempt_retry_hooks() -> list[AttemptRetryHook]:
    """Run when an attempt moves to retry (app.ledger.jobs.fail_attempt), in its unit."""
    from app.calls import cancel_attempt_calls

    return [cancel_attempt_calls]  # the attempt's called workflows end with it


def register_job_end_hooks(app: Flask) -> None:
    app.extensions["legato.job_end_hooks"] = job_end_hooks()
    app.extensions["legato.attempt_retry_hooks"] = attempt_retry_hooks()
