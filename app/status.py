"""The job, movement-run and agent-task status machines (DESIGN.md "Status machines").

Pure data. The ledger (app.ledger) checks every transition against these tables before
it writes, so a move the machine forbids is a bug caught before any SQL runs.
"""

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
    # A parallel movement, a team leader or a workflow call waiting for its children;
    # the last child to end makes it pending again.
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class TaskStatus(StrEnum):
    """An agent chat turn or agent task (app.chat.AgentTask)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


J, R, T = JobStatus, RunStatus, TaskStatus

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
    # A finished job is final, except that its owner may start a new attempt of it
    # (retry from the first movement, or replay from any movement).
    J.SUCCEEDED: frozenset({J.QUEUED}),
    J.FAILED: frozenset({J.QUEUED}),
    J.CANCELLED: frozenset({J.QUEUED}),
}

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    R.PENDING: frozenset({R.RUNNING, R.CANCELLED, R.SKIPPED}),
    R.RUNNING: frozenset({R.COMPLETED, R.FAILED, R.TIMED_OUT, R.CANCELLED, R.WAITING}),
    R.WAITING: frozenset({R.PENDING, R.CANCELLED}),
    R.COMPLETED: frozenset(),
    R.FAILED: frozenset(),
    R.TIMED_OUT: frozenset(),
    R.CANCELLED: frozenset(),
    R.SKIPPED: frozenset(),
}

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    # running -> pending: a worker died mid-turn and the lease sweep hands it back.
    T.PENDING: frozenset({T.RUNNING, T.FAILED}),
    T.RUNNING: frozenset({T.SUCCEEDED, T.FAILED, T.PENDING}),
    T.SUCCEEDED: frozenset(),
    T.FAILED: frozenset(),
}

JOB_TERMINAL = frozenset({J.SUCCEEDED, J.FAILED, J.CANCELLED})
TASK_TERMINAL = frozenset(s for s, nxt in TASK_TRANSITIONS.items() if not nxt)
RUN_TERMINAL = frozenset(s for s, nxt in RUN_TRANSITIONS.items() if not nxt)
# Where a job may be cancelled from; computed so it cannot drift from the table.
JOB_CANCELLABLE = frozenset(s for s, nxt in JOB_TRANSITIONS.items() if J.CANCELLED in nxt)


def job_transition_allowed(current: JobStatus | str, target: JobStatus | str) -> bool:
    return JobStatus(target) in JOB_TRANSITIONS[JobStatus(current)]


def run_transition_allowed(current: RunStatus | str, target: RunStatus | str) -> bool:
    return RunStatus(target) in RUN_TRANSITIONS[RunStatus(current)]


def task_transition_allowed(current: TaskStatus | str, target: TaskStatus | str) -> bool:
    return TaskStatus(target) in TASK_TRANSITIONS[TaskStatus(current)]
