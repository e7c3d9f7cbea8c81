"""Guarded transitions on PostgreSQL and SQLite: stale and illegal moves are refused."""

from __future__ import annotations

import uuid

import pytest
from app.jobs import create_job
from app.transitions import (
    IllegalTransition,
    claim_run,
    move_job,
    move_run,
    renew_lease,
)

from app import create_app
from app.config import Settings
from app.db import db
from app.migrate import upgrade
from app.models import Job, MovementRun
from app.status import JobStatus, RunStatus
from pieces import PieceLibrary

pytestmark = pytest.mark.integration


@pytest.fixture(params=["postgresql", "sqlite"])
def ctx(request, tmp_path):
    if request.param == "postgresql":
        settings = Settings(
            database_url=request.getfixturevalue("pg_database"), legato_data_dir=tmp_path
        )
    else:
        settings = Settings(database_url=None, legato_data_dir=tmp_path)
    upgrade(settings)
    flask_app = create_app(settings)
    with flask_app.app_context():
        yield
        db.session.rollback()
    with flask_app.app_context():
        db.engine.dispose()


def _new_job() -> tuple[uuid.UUID, uuid.UUID]:
    piece = PieceLibrary.builtin().load("demo")
    job, dispatches = create_job(
        owner_id="t", instruction="x", piece=piece, tier="auto", max_attempts=3
    )
    db.session.commit()
    return job.id, dispatches[0].run_id


def _status(model, row_id) -> str:
    db.session.expire_all()
    return db.session.get(model, row_id).status


def test_a_legal_transition_happens_once(ctx):
    job_id, _ = _new_job()
    assert move_job(job_id, JobStatus.QUEUED, JobStatus.RUNNING) is True
    assert move_job(job_id, JobStatus.QUEUED, JobStatus.RUNNING) is False  # stale: already moved
    db.session.commit()
    job = db.session.get(Job, job_id)
    assert job.status == "running" and job.started_at is not None


def test_a_stale_expectation_changes_nothing(ctx):
    job_id, _ = _new_job()
    assert move_job(job_id, JobStatus.RUNNING, JobStatus.SUCCEEDED) is False
    db.session.commit()
    assert _status(Job, job_id) == "queued"


def test_an_illegal_transition_raises_before_touching_the_row(ctx):
    job_id, run_id = _new_job()
    with pytest.raises(IllegalTransition):
        move_job(job_id, JobStatus.QUEUED, JobStatus.SUCCEEDED)
    with pytest.raises(IllegalTransition):
        move_job(job_id, JobStatus.SUCCEEDED, JobStatus.RUNNING)
    with pytest.raises(IllegalTransition):
        move_run(run_id, RunStatus.COMPLETED, RunStatus.RUNNING)
    db.session.commit()
    assert _status(Job, job_id) == "queued"
    assert _status(MovementRun, run_id) == "pending"


def test_terminal_states_are_final(ctx):
    job_id, _ = _new_job()
    assert move_job(job_id, JobStatus.QUEUED, JobStatus.CANCELLED)
    db.session.commit()
    assert move_job(job_id, [JobStatus.QUEUED, JobStatus.RUNNING], JobStatus.CANCELLED) is False
    assert db.session.get(Job, job_id).finished_at is not None


def test_only_one_claim_wins(ctx):
    _, run_id = _new_job()
    assert claim_run(run_id, "worker-a", 30) is True
    assert claim_run(run_id, "worker-b", 30) is False
    db.session.commit()
    run = db.session.get(MovementRun, run_id)
    assert (run.status, run.lease_owner) == ("running", "worker-a")
    assert run.lease_expires_at is not None


def test_only_the_lease_holder_completes_or_renews(ctx):
    _, run_id = _new_job()
    claim_run(run_id, "worker-a", 30)
    db.session.commit()
    assert renew_lease(run_id, "worker-b", 30) is False
    assert move_run(run_id, RunStatus.RUNNING, RunStatus.COMPLETED, held_by="worker-b") is False
    assert renew_lease(run_id, "worker-a", 30) is True
    assert move_run(run_id, RunStatus.RUNNING, RunStatus.COMPLETED, held_by="worker-a") is True
    db.session.commit()
    assert _status(MovementRun, run_id) == "completed"
    assert renew_lease(run_id, "worker-a", 30) is False  # nothing to renew once finished


def test_lease_expiry_comes_from_the_database_clock(ctx):
    from sqlalchemy import select

    from app.db import utcnow

    _, run_id = _new_job()
    claim_run(run_id, "w", 120)
    db.session.commit()
    run = db.session.get(MovementRun, run_id)
    now = db.session.scalar(select(utcnow()))
    if isinstance(now, str):  # SQLite hands back text for a bare expression
        from datetime import datetime

        now = datetime.fromisoformat(now)
    delta = run.lease_expires_at.replace(tzinfo=None) - now.replace(tzinfo=None)
    assert 110 <= delta.total_seconds() <= 121
