"""The beat maintenance loop: stuck-work recovery, retry dispatch, reconciliation and
endpoint probes, plus the Celery tasks for reflections (tasks.reflection) and callback
delivery (tasks.callback_delivery).

Every task is idempotent and safe when two beat processes run by mistake. The
choice is compare-and-set on the rows themselves, not a global lock: each sweep
reads candidates, then re-checks and changes every row with a guarded UPDATE
(app.ledger) in a unit of work that locks the job row. Two sweeps that pick the
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
from sqlalchemy import func, insert, literal, or_, select, update

from agents.llm import LLMError
from app.config import Settings
from app.contract import (
    DELIVER_CALLBACK,
    DISPATCH_RETRIES,
    ENQUEUE_REFLECTIONS,
    PROBE_LLM_ENDPOINTS,
    RECONCILE,
    RECOVER_STUCK,
    REFLECT_JOB,
)
from app.db import db, utcnow, utcnow_plus
from app.endpoints import record_health, unhealthy_tiers
from app.ledger import (
    Dispatch,
    end_read,
    fail_attempt,
    insert_run,
    move_job,
    move_run,
    start_attempt,
    touch,
    unit_of_work,
)
from app.models import Job, MovementRun, RunPhase
from app.piece_cache import pieces
from app.status import JobStatus, RunStatus
from tasks.callback_delivery import deliver_callback_once
from tasks.celery_app import celery_app
from tasks.engine.calls import llm_client
from tasks.engine.outcomes import OPEN, wake_parent
from tasks.llm_profiles import profile_for
from tasks.reflection import enqueue_reflections_once, reflect_job_once
from tasks.turn_recovery import recover_turns_once

log = logging.getLogger(__name__)

BATCH = 200
_runs, _jobs = MovementRun.__table__, Job.__table__


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


# -- recover_stuck ------------------------------------------------------------------


def recover_stuck_once() -> dict[str, int]:
    """Runs whose lease expired become `timed_out`; re-run, fail, or tell the parent
    (and agent turns whose lease expired go back to their queue: tasks.turn_recovery).

    A fresh pending run replaces a timed-out one while `retry_count` is under
    RUN_RETRY_BUDGET. Past it, a top-level run fails the attempt (job-level retry takes
    over) and a sub-movement or team part counts as failed to its waiting parent.
    """
    settings = _settings()
    candidates = db.session.execute(
        select(_runs.c.id, _runs.c.job_id)
        .where(
            _runs.c.status == RunStatus.RUNNING.value,
            _runs.c.lease_owner.is_not(None),
            _runs.c.lease_expires_at < utcnow(),
        )
        .limit(BATCH)
    ).all()
    end_read()
    counts = {"timed_out": 0, "rerun": 0, "attempts_failed": 0, "closed": 0, "parents_told": 0}
    for run_id, job_id in candidates:
        outcome = _time_out(run_id, job_id, settings)
        if outcome:
            counts["timed_out"] += 1
            counts[outcome] += 1
    return counts | recover_turns_once(settings)


def _time_out(run_id: uuid.UUID, job_id: uuid.UUID, settings: Settings) -> str | None:
    with unit_of_work(job_id) as work:
        # Re-check under the job lock: a renewal that raced our read finds the run gone.
        run = work.conn.execute(
            select(_runs).where(
                _runs.c.id == run_id,
                _runs.c.status == RunStatus.RUNNING.value,
                _runs.c.lease_expires_at < utcnow(),
            )
        ).first()
        if run is None or not move_run(
            work,
            run_id,
            RunStatus.RUNNING,
            RunStatus.TIMED_OUT,
            held_by=run.lease_owner,
            error=f"lease held by {run.lease_owner} expired",
        ):
            work.discard()
            return None
        work.event("movement_timed_out", movement=run.name, run_id=str(run_id), attempt=run.attempt)
        if work.job_status not in (JobStatus.RUNNING, JobStatus.QUEUED):
            return "closed"  # the job already moved on; only the run needed closing
        if run.retry_count < settings.run_retry_budget:
            fresh = insert_run(
                work,
                job_id=job_id,
                attempt=run.attempt,
                name=run.name,
                tier=run.tier,
                iteration=run.iteration,
                kind=run.kind,
                parent_run_id=run.parent_run_id,
                movement_iteration=run.movement_iteration,
                retry_count=run.retry_count + 1,
                loop_monitor=run.loop_monitor,
                cycle_count=run.cycle_count,
                natural_next=run.natural_next,
                spec=run.spec,
            )
            _carry_phases(work, run_id, fresh)
            # A parent's members and parts belong to its re-run (it reads their results).
            work.conn.execute(
                update(_runs).where(_runs.c.parent_run_id == run_id).values(parent_run_id=fresh)
            )
            work.event(
                "movement_retried", movement=run.name, run_id=str(fresh), retry=run.retry_count + 1
            )
            work.after(Dispatch(fresh, job_id, run.name, run.tier).send)
            return "rerun"
        if run.parent_run_id is not None:
            wake_parent(work, run.parent_run_id)
            return "parents_told"
        if work.job_status == JobStatus.QUEUED:
            move_job(work, job_id, JobStatus.QUEUED, JobStatus.RUNNING)
        fail_attempt(
            work,
            job_id,
            f"movement {run.name} timed out (lease expired) with no retries left",
            retry=True,
            abort_kind="runtime_error",
        )
        return "attempts_failed"


def _carry_phases(work, old_run: uuid.UUID, new_run: uuid.UUID) -> None:
    """A re-run keeps the phases its timed-out predecessor finished (they are paid for)."""
    phases = RunPhase.__table__
    columns = [c for c in phases.c if c.name not in ("id", "run_id", "created_at")]
    work.conn.execute(
        insert(phases).from_select(
            ["run_id", *[c.name for c in columns]],
            select(literal(new_run, phases.c.run_id.type), *columns).where(
                phases.c.run_id == old_run
            ),
        )
    )


# -- dispatch_retries ---------------------------------------------------------------


def dispatch_retries_once() -> int:
    """Jobs in `retry` whose time has come start their next attempt: `retry -> queued`,
    attempt+1, the first movement's run inserted, sent after commit."""
    candidates = db.session.scalars(
        select(_jobs.c.id)
        .where(_jobs.c.status == JobStatus.RETRY.value, _jobs.c.next_retry_at <= utcnow())
        .order_by(_jobs.c.next_retry_at)
        .limit(BATCH)
    ).all()
    end_read()
    sent = 0
    for job_id in candidates:
        with unit_of_work(job_id) as work:
            if work.job_status != JobStatus.RETRY:
                work.discard()
                continue
            piece = pieces.get(work.conn, job_id)
            dispatches = start_attempt(
                work, job_id, piece, current=JobStatus.RETRY, reason="retry after backoff"
            )
            if dispatches is None:
                work.discard()
                continue
            work.event("job_retry_started", attempt=work.job_attempt)
            work.after_all([d.send for d in dispatches])
            sent += 1
    return sent


# -- reconcile --------------------------------------------------------------------


def reconcile_once(older_than: float | None = None) -> dict[str, int]:
    """Re-send pending runs nobody claimed (a lost publish, a Redis that restarted
    empty), and wake waiting parents whose children have all ended.

    "Older than a threshold" is measured from the run's `updated_at`, which a re-send
    bumps with a compare-and-set: one beat re-sends a run once per threshold, and a
    second beat's CAS fails. A duplicate message is harmless anyway (the claim is a
    compare-and-set too); this only keeps queues from filling with copies.
    """
    settings = _settings()
    threshold = settings.reconcile_after_seconds if older_than is None else older_than
    down = unhealthy_tiers()
    stale = db.session.execute(
        select(_runs.c.id, _runs.c.job_id, _runs.c.name, _runs.c.tier)
        .join(_jobs, _jobs.c.id == _runs.c.job_id)
        .where(
            _runs.c.status == RunStatus.PENDING.value,
            _runs.c.updated_at < utcnow_plus(-threshold),
            # A delayed step's run waits for its time, not for a lost message.
            or_(_runs.c.not_before.is_(None), _runs.c.not_before <= utcnow()),
            _runs.c.attempt == _jobs.c.attempt,
            _jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
        .limit(BATCH)
    ).all()
    parents = db.session.execute(
        select(_runs.c.id, _runs.c.job_id)
        .join(_jobs, _jobs.c.id == _runs.c.job_id)
        .where(
            _runs.c.status == RunStatus.WAITING.value,
            _runs.c.updated_at < utcnow_plus(-threshold),
            _jobs.c.status == JobStatus.RUNNING.value,
        )
        .limit(BATCH)
    ).all()
    end_read()
    resent = _resend([row for row in stale if row.tier not in down], threshold)
    woken = 0
    for parent_id, job_id in parents:
        with unit_of_work(job_id) as work:
            open_children = work.conn.execute(
                select(func.count())
                .select_from(_runs)
                .where(_runs.c.parent_run_id == parent_id, _runs.c.status.in_(OPEN))
            ).scalar_one()
            if open_children or not wake_parent(work, parent_id):
                work.discard()
                continue
            woken += 1
    return {"resent": resent, "joined": woken}


def _resend(rows, threshold: float | None) -> int:
    """Send each run whose `updated_at` we manage to bump (CAS); returns how many."""
    sent = 0
    for row in rows:
        with unit_of_work() as work:
            if touch(work, row.id, threshold):
                work.after(Dispatch(row.id, row.job_id, row.name, row.tier).send)
                sent += 1
    return sent


# -- probe_llm_endpoints ------------------------------------------------------------


def probe_llm_endpoints_once() -> dict[str, bool]:
    """Model list and health per tier endpoint; a tier that comes back re-sends the
    work parked while it was down."""
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
        db.session.commit()  # endpoint health is not job state; the probe owns it
        results[tier] = healthy
        if healthy and not was_healthy:
            _resend_tier(tier)
    return results


def _resend_tier(tier: str) -> int:
    rows = db.session.execute(
        select(_runs.c.id, _runs.c.job_id, _runs.c.name, _runs.c.tier)
        .join(_jobs, _jobs.c.id == _runs.c.job_id)
        .where(
            _runs.c.status == RunStatus.PENDING.value,
            _runs.c.tier == tier,
            _runs.c.attempt == _jobs.c.attempt,
            _jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
        .limit(BATCH * 5)
    ).all()
    end_read()
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


@celery_app.task(name=REFLECT_JOB, ids=("job_id",))
def reflect_job(job_id: uuid.UUID) -> str:
    """The job-end hook's request. A skip is recorded in the job's events here (once,
    right after the job ended), not by the periodic sweep, which would repeat it."""
    outcome = reflect_job_once(job_id)
    if outcome in ("no-worker", "over-budget"):
        with unit_of_work() as work:
            work.event("reflection_skipped", job_id, reason=outcome)
    return outcome


@celery_app.task(name=PROBE_LLM_ENDPOINTS)
def probe_llm_endpoints() -> dict[str, bool]:
    return probe_llm_endpoints_once()


@celery_app.task(name=DELIVER_CALLBACK, ids=("job_id",))
def deliver_callback(job_id: uuid.UUID, attempt: int = 1) -> str:
    return deliver_callback_once(job_id, int(attempt))
