"""The status machines as data: properties every later change must keep."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.status import (
    JOB_CANCELLABLE,
    JOB_TERMINAL,
    JOB_TRANSITIONS,
    RUN_TERMINAL,
    RUN_TRANSITIONS,
    TASK_TERMINAL,
    JobStatus,
    RunStatus,
    TaskStatus,
    job_transition_allowed,
    run_transition_allowed,
    task_transition_allowed,
)


def test_terminal_states_are_exactly_the_documented_ones():
    assert {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED} == JOB_TERMINAL
    assert {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
        RunStatus.SKIPPED,
    } == RUN_TERMINAL


def test_every_unfinished_job_can_be_cancelled():
    assert set(JobStatus) - JOB_TERMINAL == JOB_CANCELLABLE


def test_every_status_has_a_row():
    assert set(JOB_TRANSITIONS) == set(JobStatus)
    assert set(RUN_TRANSITIONS) == set(RunStatus)


@given(st.sampled_from(list(JobStatus)), st.sampled_from(list(JobStatus)))
def test_finished_jobs_only_start_a_new_attempt_and_nothing_returns_to_itself(current, target):
    # A finished job is final, except that its owner may retry or replay it: a new
    # attempt, queued again (README "Replay"). Nothing moves to the state it is in.
    if current == target:
        assert not job_transition_allowed(current, target)
    if current in JOB_TERMINAL and job_transition_allowed(current, target):
        assert target == JobStatus.QUEUED


@given(st.sampled_from(list(RunStatus)), st.sampled_from(list(RunStatus)))
def test_runs_only_move_forward_except_a_waiting_parent(current, target):
    # pending -> running -> ...; the one way back is a parent's: running -> waiting for
    # its children -> pending again when they end.
    order = [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING]
    if run_transition_allowed(current, target):
        assert current in order
        if (current, target) != (RunStatus.WAITING, RunStatus.PENDING):
            assert target not in order[: order.index(current) + 1]
        assert current not in RUN_TERMINAL


@given(st.sampled_from(list(TaskStatus)), st.sampled_from(list(TaskStatus)))
def test_agent_tasks_end_for_good_and_only_a_lost_turn_goes_back(current, target):
    if task_transition_allowed(current, target):
        assert current not in TASK_TERMINAL
        if target == TaskStatus.PENDING:
            assert current == TaskStatus.RUNNING  # a dead worker's turn, handed back


@given(st.lists(st.sampled_from(list(JobStatus)), min_size=1, max_size=12))
def test_every_legal_path_from_queued_stays_in_the_machine(path):
    current = JobStatus.QUEUED
    for target in path:
        if job_transition_allowed(current, target):
            current = target
    assert current in JobStatus
    # whatever happened, a job can always still end
    assert current in JOB_TERMINAL or JOB_TRANSITIONS[current] & (
        JOB_TERMINAL | {JobStatus.QUEUED, JobStatus.RUNNING}
    )
