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
    JobStatus,
    RunStatus,
    job_transition_allowed,
    run_transition_allowed,
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
def test_terminal_jobs_never_move_and_nothing_returns_to_itself(current, target):
    if current in JOB_TERMINAL or current == target:
        assert not job_transition_allowed(current, target)


@given(st.sampled_from(list(RunStatus)), st.sampled_from(list(RunStatus)))
def test_runs_only_move_forward(current, target):
    order = [RunStatus.PENDING, RunStatus.RUNNING]
    if run_transition_allowed(current, target):
        assert current in order
        assert target not in order[: order.index(current) + 1]


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
