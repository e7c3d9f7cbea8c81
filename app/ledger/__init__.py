"""The ledger: the only writer of job, run, agent-task and event state.

Everything that changes that state runs inside `unit_of_work` (one transaction that
locks the job row, buffers events, commits as a whole and then runs the after-commit
publishes) and goes through the functions here, each a guarded statement that checks
the status machines of app.status before it writes.
"""

from app.ledger.jobs import (
    add_artifact,
    add_tokens,
    cancel,
    create,
    fail_attempt,
    job_ended,
    pending_dispatches,
    resume,
    set_values,
    start_attempt,
    start_movement,
    succeed,
)
from app.ledger.jobs import move as move_job
from app.ledger.runs import (
    Dispatch,
    IllegalTransition,
    cancel_open,
    claim,
    delay_left,
    end_run,
    insert_run,
    record_phase,
    renew_leases,
    set_queue,
    touch,
)
from app.ledger.runs import move as move_run
from app.ledger.runs import park as park_run
from app.ledger.work import AfterCommit, Work, end_read, run_after_commit, unit_of_work
from app.models import HANDOFF, INPUT, REPORT  # the artifact kinds the ledger writes

__all__ = [
    "HANDOFF",
    "INPUT",
    "REPORT",
    "AfterCommit",
    "Dispatch",
    "IllegalTransition",
    "Work",
    "add_artifact",
    "add_tokens",
    "cancel",
    "cancel_open",
    "claim",
    "create",
    "delay_left",
    "end_read",
    "end_run",
    "fail_attempt",
    "insert_run",
    "job_ended",
    "move_job",
    "move_run",
    "park_run",
    "pending_dispatches",
    "record_phase",
    "renew_leases",
    "resume",
    "run_after_commit",
    "set_queue",
    "set_values",
    "start_attempt",
    "start_movement",
    "succeed",
    "touch",
    "unit_of_work",
]
