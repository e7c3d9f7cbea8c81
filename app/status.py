"""The job and movement-run status machines (DESIGN.md "Status machines"). Pure data."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRY = "retry"
    WAITING_HUMAN = "waiting_human"
    WAITING_SUBTASKS = "waiting_subtasks"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


J, R = JobStatus, RunStatus

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    J.QUEUED: frozenset({J.RUNNING, J.CANCELLED}),
    # running -> queued: the attempt is handed back without consuming it
    # (e.g. the tier's LLM endpoint is unreachable).
    J.RUNNING: frozenset(
        {J.SUCCEEDED, J.FAILED, J.CANCELLED, J.RETRY, J.WAITING_HUMAN, J.WAITING_SUBTASKS, J.QUEUED}
    ),
    J.RETRY: frozenset({J.QUEUED, J.CANCELLED}),
    J.WAITING_HUMAN: frozenset({J.QUEUED, J.CANCELLED}),
    J.WAITING_SUBTASKS: frozenset({J.QUEUED, J.CANCELLED}),
    J.SUCCEEDED: frozenset(),
    J.FAILED: frozenset(),
    J.CANCELLED: frozenset(),
}

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    R.PENDING: frozenset({R.RUNNING, R.CANCELLED, R.SKIPPED}),
    R.RUNNING: frozenset({R.COMPLETED, R.FAILED, R.TIMED_OUT, R.CANCELLED}),
    R.COMPLETED: frozenset(),
    R.FAILED: frozenset(),
    R.TIMED_OUT: frozenset(),
    R.CANCELLED: frozenset(),
    R.SKIPPED: frozenset(),
}

JOB_TERMINAL = frozenset(s for s, nxt in JOB_TRANSITIONS.items() if not nxt)
RUN_TERMINAL = frozenset(s for s, nxt in RUN_TRANSITIONS.items() if not nxt)
# Where a job may be cancelled from; computed so it cannot drift from the table.
JOB_CANCELLABLE = frozenset(s for s, nxt in JOB_TRANSITIONS.items() if J.CANCELLED in nxt)


def job_transition_allowed(current: JobStatus | str, target: JobStatus | str) -> bool:
    return JobStatus(target) in JOB_TRANSITIONS[JobStatus(current)]


def run_transition_allowed(current: RunStatus | str, target: RunStatus | str) -> bool:
    return RunStatus(target) in RUN_TRANSITIONS[RunStatus(current)]
