"""The beat maintenance loop: stuck-work recovery, retry dispatch, reconciliation and
endpoint probes, plus the Celery tasks for reflections (tasks.reflection) and callback
delivery (tasks.callback_delivery).

Every task is idempotent and safe when two beat processes run by mistake. The
choice is compare-and-set on the rows themselves, not a global lock: each sweep
reads candidates, then re-checks and changes every row with a guarded UPDATE
(app.transitions) under the job row lock (`lock_job`). Two sweeps that pick the
same row serialize on that lock; the second one's guarded UPDATE matches nothing
and it moves on. Re-sending is made once-only by a CAS on `updated_at`, and "one
reflection per job" by the primary key of `job_reflections`. A database lock held
across the whole sweep would also work, but it would make one slow sweep block the
other beat and every worker finishing a movement of the same jobs.

Each `*_once` function does one sweep in the current app context and returns what
it did; the Celery tasks (`legato.maintenance.<name>`, on the `maintenance` queue)
wrap them.
"""

from __future__ import annotations

import logging
import uuid

from flask import current_app
from sqlalchemy import select, update

from app.config import Settings
from app.db import db, utcnow, utcnow_plus
from app.endpoints import record_health, unhealthy_tiers
from app.jobs import Dispatch, start_movement
from app.lifecycle import AfterCommit, run_after_commit
from app.maintenance_tasks import DELIVER_CALLBACK, PREFIX, REFLECT_JOB
from app.models import Job, MovementRun
from app.status import JobStatus, RunStatus
from app.transitions import lock_job, move_job, move_run, record_event
from pieces import Piece
from tasks.callback_delivery import deliver_callback_once
from tasks.celery_app import celery_app
from tasks.reflection import (
    enqueue_reflections_once,
    reflect_job_once,
)

log = logging.getLogger(__name__)

BATCH = 200
RECOVER_STUCK = PREFIX + "recover_stuck"
DISPATCH_RETRIES = PREFIX + "dispatch_retries"
RECONCILE = PREFIX + "reconcile"
ENQUEUE_REFLECTIONS = PREFIX + "enqueue_reflections"
PROBE_LLM_ENDPOINTS = PREFIX + "probe_llm_endpoints"


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


# -- recover_stuck ------------------------------------------------------------------


def recover_stuck_once() -> dict[str, int]:
    """Movement runs whose lease expired become `timed_out`; re-run or fail the attempt.

    A fresh pending run replaces a timed-out one while `retry_count` is under
    RUN_RETRY_BUDGET; otherwise the attempt fails and job-level retry takes over.
    """
    settings = _settings()
    candidates = db.session.execute(
        select(MovementRun.id, MovementRun.job_id)
        .where(
            MovementRun.status == RunStatus.RUNNING.value,
            MovementRun.lease_owner.is_not(None),
            MovementRun.lease_expires_at < utcnow(),
        )
        .limit(BATCH)
    ).all()
    db.session.rollback()
    counts = {"timed_out": 0, "rerun": 0, "attempts_failed": 0, "closed": 0}
    for run_id, job_id in candidates:
        outcome, after = _time_out(run_id, job_id, settings)
        if outcome:
            counts["timed_out"] += 1
            counts[outcome] += 1
        run_after_commit(after)
    return counts


def _time_out(
    run_id: uuid.UUID, job_id: uuid.UUID, settings: Settings
) -> tuple[str | None, list[AfterCommit]]:
    from tasks.outcomes import fail_job_attempt

    job_status = lock_job(job_id)
    # Re-check under a row lock: a lease renewal that raced our read blocks on this
    # lock and, after we commit, finds the run no longer running (LeaseKeeper.lost).
    run = db.session.scalar(
        select(MovementRun)
        .where(
            MovementRun.id == run_id,
            MovementRun.status == RunStatus.RUNNING.value,
            MovementRun.lease_expires_at < utcnow(),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if run is None:
        db.session.rollback()
        return None, []
    owner = run.lease_owner
    if not move_run(
        run_id,
        RunStatus.RUNNING,
        RunStatus.TIMED_OUT,
        held_by=owner,
        error=f"lease held by {owner} expired",
    ):
        db.session.rollback()
        return None, []
    record_event(
        job_id, "movement_timed_out", movement=run.name, run_id=str(run_id), attempt=run.attempt
    )
    if job_status not in (JobStatus.RUNNING, JobStatus.QUEUED):
        db.session.commit()  # the job already moved on; only the run needed closing
        return "closed", []
    if run.retry_count < settings.run_retry_budget:
        fresh = MovementRun(
            id=uuid.uuid4(),
            job_id=job_id,
            attempt=run.attempt,
            name=run.name,
            parent_run_id=run.parent_run_id,
            iteration=run.iteration,
            movement_iteration=run.movement_iteration,
            status=RunStatus.PENDING.value,
            tier=run.tier,
            retry_count=run.retry_count + 1,
            tokens_in=0,
            tokens_out=0,
        )
        db.session.add(fresh)
        record_event(
            job_id,
            "movement_retried",
            movement=run.name,
            run_id=str(fresh.id),
            retry=fresh.retry_count,
        )
        db.session.commit()
        return "rerun", [Dispatch(fresh.id, job_id, fresh.name, fresh.tier).send]
    if job_status == JobStatus.QUEUED:
        move_job(job_id, JobStatus.QUEUED, JobStatus.RUNNING)
    _, after = fail_job_attempt(
        job_id, f"movement {run.name} timed out (lease expired) with no retries left", retry=True
    )
    db.session.commit()
    return "attempts_failed", after


# -- dispatch_retries ---------------------------------------------------------------


def dispatch_retries_once() -> int:
    """Jobs in `retry` whose time has come start their next attempt: `retry -> queued`,
    attempt+1, the first movement's run inserted, sent after commit."""
    candidates = db.session.scalars(
        select(Job.id)
        .where(Job.status == JobStatus.RETRY.value, Job.next_retry_at <= utcnow())
        .order_by(Job.next_retry_at)
        .limit(BATCH)
    ).all()
    db.session.rollback()
    sent = 0
    for job_id in candidates:
        if lock_job(job_id) != JobStatus.RETRY:
            db.session.rollback()
            continue
        job = db.session.get(Job, job_id, populate_existing=True)
        if not move_job(
            job_id,
            JobStatus.RETRY,
            JobStatus.QUEUED,
            attempt=job.attempt + 1,
            next_retry_at=None,
            current_activity=None,
        ):
            db.session.rollback()
            continue
        db.session.refresh(job)
        piece = Piece.model_validate(job.piece_snapshot)
        dispatches = start_movement(job, piece, piece.initial_movement, iteration=1)
        job.current_movement = piece.initial_movement
        record_event(job_id, "job_retry_started", attempt=job.attempt)
        db.session.commit()
        sent += 1
        run_after_commit([d.send for d in dispatches])
    return sent


# -- reconcile --------------------------------------------------------------------


def reconcile_once(older_than: float | None = None) -> dict[str, int]:
    """Re-send pending runs nobody claimed (a lost publish, a Redis that restarted
    empty), and re-try the join of parallel movements whose sub-runs all ended.

    "Older than a threshold" is measured from the run's `updated_at`, which a re-send
    bumps with a compare-and-set: one beat re-sends a run once per threshold, and
    a second beat's CAS fails. A duplicate message is harmless anyway (the claim
    is a compare-and-set too); this only keeps queues from filling with copies.
    """
    settings = _settings()
    threshold = settings.reconcile_after_seconds if older_than is None else older_than
    down = unhealthy_tiers()
    stale = db.session.execute(
        select(MovementRun.id, MovementRun.job_id, MovementRun.name, MovementRun.tier)
        .join(Job, Job.id == MovementRun.job_id)
        .where(
            MovementRun.status == RunStatus.PENDING.value,
            MovementRun.updated_at < utcnow_plus(-threshold),
            MovementRun.attempt == Job.attempt,
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
        .limit(BATCH)
    ).all()
    resent = _resend([row for row in stale if row.tier not in down], threshold)
    joined = 0
    parents = db.session.scalars(
        select(MovementRun.id)
        .join(Job, Job.id == MovementRun.job_id)
        .where(
            MovementRun.status == RunStatus.RUNNING.value,
            MovementRun.lease_owner.is_(None),
            MovementRun.updated_at < utcnow_plus(-threshold),
            Job.status == JobStatus.RUNNING.value,
        )
        .limit(BATCH)
    ).all()
    db.session.rollback()
    if parents:
        from tasks.parallel import join_parallel

        for parent_id in parents:
            children = db.session.scalars(
                select(MovementRun.status).where(MovementRun.parent_run_id == parent_id)
            ).all()
            db.session.rollback()
            ended = children and all(RunStatus(s) not in _OPEN for s in children)
            if ended and join_parallel(parent_id) != "completed":
                joined += 1
    return {"resent": resent, "joined": joined}


_OPEN = {RunStatus.PENDING, RunStatus.RUNNING}


def _resend(rows, threshold: float | None) -> int:
    """Send each run whose `updated_at` we manage to bump (CAS); returns how many."""
    sends = []
    for row in rows:
        conditions = [MovementRun.id == row.id, MovementRun.status == RunStatus.PENDING.value]
        if threshold is not None:
            conditions.append(MovementRun.updated_at < utcnow_plus(-threshold))
        bumped = db.session.execute(
            update(MovementRun)
            .where(*conditions)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if bumped:
            sends.append(Dispatch(row.id, row.job_id, row.name, row.tier).send)
    db.session.commit()
    run_after_commit(sends)
    return len(sends)


# -- probe_llm_endpoints ------------------------------------------------------------


def probe_llm_endpoints_once() -> dict[str, bool]:
    """Model list and health per tier endpoint; a tier that comes back re-sends the
    work parked while it was down."""
    from agents.llm import LLMError
    from tasks.execution import llm_client
    from tasks.llm_profiles import profile_for

    settings = _settings()
    results: dict[str, bool] = {}
    probed: dict[str | None, tuple[bool, list[str], str | None]] = {}
    for tier in settings.tiers:
        profile = profile_for(settings, tier)
        key = f"{profile.base_url}|{profile.api_key and 'k'}"
        if key not in probed:
            try:
                models = llm_client().list_models(profile)
                probed[key] = (True, models, None)
            except LLMError as exc:
                probed[key] = (False, [], str(exc)[:500])
            except Exception as exc:  # a probe must never take the beat down
                probed[key] = (False, [], f"{type(exc).__name__}: {exc}"[:500])
        healthy, models, error = probed[key]
        was_healthy = record_health(
            tier, healthy=healthy, base_url=profile.base_url, models=models, error=error
        )
        db.session.commit()
        results[tier] = healthy
        if healthy and not was_healthy:
            _resend_tier(tier)
    return results


def _resend_tier(tier: str) -> int:
    rows = db.session.execute(
        select(MovementRun.id, MovementRun.job_id, MovementRun.name, MovementRun.tier)
        .join(Job, Job.id == MovementRun.job_id)
        .where(
            MovementRun.status == RunStatus.PENDING.value,
            MovementRun.tier == tier,
            MovementRun.attempt == Job.attempt,
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
        .limit(BATCH * 5)
    ).all()
    return _resend(rows, None)


# -- the Celery tasks ---------------------------------------------------------------


@celery_app.task(name=RECOVER_STUCK)
def recover_stuck() -> dict[str, int]:
    return recover_stuck_once()


@celery_app.task(name=DISPATCH_RETRIES)
def dispatch_retries() -> int:
    return dispatch_retries_once()


@celery_app.task(name=RECONCILE)
def reconcile() -> dict[str, int]:
    return reconcile_once()


@celery_app.task(name=ENQUEUE_REFLECTIONS)
def enqueue_reflections() -> int:
    return enqueue_reflections_once()


@celery_app.task(name=REFLECT_JOB)
def reflect_job(job_id: str) -> str:
    """The job-end hook's request. A skip is recorded in the job's events here (once,
    right after the job ended), not by the periodic sweep, which would repeat it."""
    try:
        jid = uuid.UUID(job_id)
    except ValueError:
        return "invalid"
    outcome = reflect_job_once(jid)
    if outcome in ("no-worker", "over-budget"):
        record_event(jid, "reflection_skipped", reason=outcome)
        db.session.commit()
    return outcome


@celery_app.task(name=PROBE_LLM_ENDPOINTS)
def probe_llm_endpoints() -> dict[str, bool]:
    return probe_llm_endpoints_once()


@celery_app.task(name=DELIVER_CALLBACK)
def deliver_callback(job_id: str, attempt: int = 1) -> str:
    try:
        jid = uuid.UUID(job_id)
    except ValueError:
        return "invalid"
    return deliver_callback_once(jid, int(attempt))
