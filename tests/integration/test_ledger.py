"""The ledger on PostgreSQL and SQLite: guarded transitions, and units of work that commit
or roll back as a whole and publish only after committing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.db import db
from app.ledger import (
    IllegalTransition,
    claim,
    create,
    move_job,
    move_run,
    renew_leases,
    unit_of_work,
)
from app.migrate import upgrade
from app.models import Job, JobEvent, MovementRun
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
    with unit_of_work() as work:
        job_id, dispatches = create(
            work, owner_id="t", instruction="x", piece=piece, tier="auto", max_attempts=3
        )
    return job_id, dispatches[0].run_id


def _in(job_id, fn):
    with unit_of_work(job_id) as work:
        return fn(work)


def _status(model, row_id) -> str:
    db.session.expire_all()
    return db.session.get(model, row_id).status


def test_a_legal_transition_happens_once(ctx):
    job_id, _ = _new_job()
    with unit_of_work(job_id) as work:
        assert move_job(work, job_id, JobStatus.QUEUED, JobStatus.RUNNING) is True
        # stale: already moved
        assert move_job(work, job_id, JobStatus.QUEUED, JobStatus.RUNNING) is False
    job = db.session.get(Job, job_id)
    assert job.status == "running" and job.started_at is not None


def test_a_stale_expectation_changes_nothing(ctx):
    job_id, _ = _new_job()
    assert (
        _in(job_id, lambda w: move_job(w, job_id, JobStatus.RUNNING, JobStatus.SUCCEEDED)) is False
    )
    assert _status(Job, job_id) == "queued"


def test_an_illegal_transition_raises_before_touching_the_row(ctx):
    job_id, run_id = _new_job()
    with pytest.raises(IllegalTransition):
        _in(job_id, lambda w: move_job(w, job_id, JobStatus.QUEUED, JobStatus.SUCCEEDED))
    with pytest.raises(IllegalTransition):
        _in(job_id, lambda w: move_job(w, job_id, JobStatus.SUCCEEDED, JobStatus.RUNNING))
    with pytest.raises(IllegalTransition):
        _in(job_id, lambda w: move_run(w, run_id, RunStatus.COMPLETED, RunStatus.RUNNING))
    assert _status(Job, job_id) == "queued"
    assert _status(MovementRun, run_id) == "pending"


def test_terminal_states_are_final(ctx):
    job_id, _ = _new_job()
    assert _in(job_id, lambda w: move_job(w, job_id, JobStatus.QUEUED, JobStatus.CANCELLED))
    assert (
        _in(
            job_id,
            lambda w: move_job(
                w, job_id, [JobStatus.QUEUED, JobStatus.RUNNING], JobStatus.CANCELLED
            ),
        )
        is False
    )
    assert db.session.get(Job, job_id).finished_at is not None


def test_only_one_claim_wins(ctx):
    job_id, run_id = _new_job()
    assert _in(job_id, lambda w: claim(w, run_id, "worker-a", 30)) is not None
    assert _in(job_id, lambda w: claim(w, run_id, "worker-b", 30)) is None
    run = db.session.get(MovementRun, run_id)
    assert (run.status, run.lease_owner) == ("running", "worker-a")
    assert run.lease_expires_at is not None


def test_only_the_lease_holder_completes_or_renews(ctx):
    job_id, run_id = _new_job()
    # Lease owners are unique per delivery (host/task id); so are these.
    a, b = f"worker-a/{uuid.uuid4()}", f"worker-b/{uuid.uuid4()}"
    _in(job_id, lambda w: claim(w, run_id, a, 30))
    assert _in(job_id, lambda w: renew_leases(w, [b], 30)) == set()

    def done(owner):
        return lambda w: move_run(w, run_id, RunStatus.RUNNING, RunStatus.COMPLETED, held_by=owner)

    assert _in(job_id, done(b)) is False
    assert _in(job_id, lambda w: renew_leases(w, [a], 30)) == {run_id}
    assert _in(job_id, done(a)) is True
    assert _status(MovementRun, run_id) == "completed"
    # nothing to renew once finished
    assert _in(job_id, lambda w: renew_leases(w, [a], 30)) == set()


def test_lease_expiry_comes_from_the_database_clock(ctx):
    from sqlalchemy import select

    from app.db import utcnow

    job_id, run_id = _new_job()
    _in(job_id, lambda w: claim(w, run_id, "w", 120))
    run = db.session.get(MovementRun, run_id)
    now = db.session.scalar(select(utcnow()))
    if isinstance(now, str):  # SQLite hands back text for a bare expression
        from datetime import datetime

        now = datetime.fromisoformat(now)
    delta = run.lease_expires_at.replace(tzinfo=None) - now.replace(tzinfo=None)
    assert 110 <= delta.total_seconds() <= 121


def test_a_unit_of_work_commits_whole_and_publishes_after(ctx):
    job_id, _ = _new_job()
    published: list[str] = []
    with unit_of_work(job_id) as work:
        move_job(work, job_id, JobStatus.QUEUED, JobStatus.RUNNING)
        work.event("probe", marker=1)
        work.after(lambda: published.append(_status(Job, job_id)))
        assert published == []  # nothing is sent before the commit
    assert published == ["running"]  # and what is sent sees the committed state
    kinds = [e.kind for e in db.session.scalars(select(JobEvent).where(JobEvent.job_id == job_id))]
    assert kinds[-1] == "probe"


def test_a_failing_unit_of_work_leaves_nothing_behind(ctx):
    job_id, _ = _new_job()
    published: list[int] = []
    with pytest.raises(RuntimeError), unit_of_work(job_id) as work:
        move_job(work, job_id, JobStatus.QUEUED, JobStatus.RUNNING)
        work.event("probe")
        work.after(lambda: published.append(1))
        raise RuntimeError("boom")
    assert _status(Job, job_id) == "queued"
    assert published == []
    kinds = [e.kind for e in db.session.scalars(select(JobEvent).where(JobEvent.job_id == job_id))]
    assert "probe" not in kinds


def test_a_discarded_unit_of_work_rolls_back(ctx):
    job_id, _ = _new_job()
    with unit_of_work(job_id) as work:
        move_job(work, job_id, JobStatus.QUEUED, JobStatus.RUNNING)
        work.discard()
    assert _status(Job, job_id) == "queued"
