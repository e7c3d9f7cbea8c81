"""The `legato` exit codes, one per way a job (or a command) can end.

Documented in the README's "Command line" section; scripts rely on them.
"""

from __future__ import annotations

OK = 0  # the command worked; for a job: it succeeded
FAILED = 1  # the job failed, or the API refused / could not be reached
USAGE = 2  # bad arguments (click's own code)
CANCELLED = 3  # the job was cancelled
WAITING = 4  # the job waits for an answer or input and no terminal can give it
RUNNING = 5  # `legato result` without --wait: the job has not finished yet

BY_STATUS = {"succeeded": OK, "failed": FAILED, "cancelled": CANCELLED, "waiting_human": WAITING}


def for_status(status: str | None) -> int:
    return BY_STATUS.get(status or "", RUNNING)
