"""The beat maintenance loop: stuck-work recovery, retry dispatch, reconciliation,
reflections, endpoint probes and callback delivery.

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
import time
import uuid
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.db import db, utcnow, utcnow_plus
from app.dispatch import producer
from app.endpoints import record_health, unhealthy_tiers
from app.jobs import Dispatch, start_movement
from app.lifecycle import AfterCommit, run_after_commit
from app.maintenance_tasks import DELIVER_CALLBACK, PREFIX, REFLECT_JOB, send_maintenance
from app.models import Job, JobEvent, MovementRun
from app.notes import REFLECTABLE, REFLECTION_KIND, JobReflection
from app.status import JobStatus, RunStatus
from app.transitions import lock_job, move_job, move_run, record_event
from pieces import Piece
from tasks.celery_app import celery_app
from tasks.history import history_lines

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


# -- reflections --------------------------------------------------------------------

_worker_cache: dict[str, tuple[float, bool]] = {}


def reflection_worker_present() -> bool:
    """Whether some Celery worker consumes the `reflection` queue (cached 30 s)."""
    cached = _worker_cache.get("reflection")
    if cached and time.monotonic() - cached[0] < 30:
        return cached[1]
    try:
        replies = producer().control.inspect(timeout=1.0).active_queues() or {}
    except Exception:
        log.warning("inspect active_queues failed", exc_info=True)
        replies = {}
    present = any(
        q.get("name") == "reflection" for queues in replies.values() for q in (queues or [])
    )
    _worker_cache["reflection"] = (time.monotonic(), present)
    return present


def reflection_tokens_today(owner_id: str) -> int:
    now = db.session.scalar(select(utcnow()))
    if isinstance(now, str):  # SQLite hands the expression back as text
        now = datetime.fromisoformat(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight.tzinfo is None:
        midnight = midnight.replace(tzinfo=UTC)
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Job.tokens_in + Job.tokens_out), 0)).where(
                Job.owner_id == owner_id,
                Job.task_kind == REFLECTION_KIND,
                Job.created_at >= midnight,
            )
        )
        or 0
    )


def reflect_job_once(job_id: uuid.UUID, *, worker_present: bool | None = None) -> str:
    """Create the one reflection job for a finished job, or record why not."""
    from app.catalog import load_for_job

    settings = _settings()
    if not settings.reflection_enabled:
        return "disabled"
    job = db.session.get(Job, job_id)
    if job is None or job.status not in REFLECTABLE or job.task_kind == REFLECTION_KIND:
        db.session.rollback()
        return "not-reflectable"
    if db.session.get(JobReflection, job_id) is not None:
        db.session.rollback()
        return "exists"
    if settings.reflection_require_worker:
        present = reflection_worker_present() if worker_present is None else worker_present
        if not present:
            db.session.rollback()
            return "no-worker"  # not marked: a later sweep tries again
    owner = job.owner_id or "local"
    budget = settings.reflection_daily_token_budget
    if budget and reflection_tokens_today(owner) >= budget:
        db.session.rollback()
        return "over-budget"  # not marked: tomorrow's budget may allow it
    source_id = job.id
    history = reflection_input(job)
    piece = load_for_job(owner, "reflection", settings)
    from app.jobs import create_job

    try:
        with db.session.begin_nested():
            db.session.add(JobReflection(job_id=source_id, state="creating"))
            db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return "exists"
    reflection, dispatches = create_job(
        owner_id=owner,
        instruction=history,
        piece=piece,
        tier="reflection" if "reflection" in settings.tiers else settings.default_tier,
        max_attempts=1,
        visibility="private",
        payload={"reflects": str(source_id)},
        task_kind=REFLECTION_KIND,
        parent_job_id=source_id,
    )
    db.session.execute(
        update(JobReflection)
        .where(JobReflection.job_id == source_id)
        .values(reflection_job_id=reflection.id, state="created")
        .execution_options(synchronize_session=False)
    )
    record_event(source_id, "reflection_created", reflection_job_id=str(reflection.id))
    try:
        db.session.commit()
    except IntegrityError:  # the other beat's marker committed first
        db.session.rollback()
        return "exists"
    run_after_commit([d.send for d in dispatches])
    return "created"


def reflection_input(job: Job) -> str:
    """The finished job's history as the reflection's task text (capped)."""
    runs = db.session.scalars(
        select(MovementRun)
        .where(MovementRun.job_id == job.id)
        .order_by(MovementRun.attempt, MovementRun.iteration, MovementRun.created_at)
    ).all()
    lines = [
        f"Job {job.id} (piece {job.piece_name}) ended {job.status} after {job.attempt} attempt(s).",
        "",
        "Instruction:",
        job.instruction[:2000],
        "",
        "Movements:",
    ]
    lines += history_lines(runs[-30:], preview_chars=300, error_chars=200, with_attempt=True)
    if job.error_summary:
        lines += ["", f"Failure: {job.error_summary[:500]}"]
    if job.result:
        lines += ["", "Result:", job.result[:1500]]
    return "\n".join(lines)[:8000]


def enqueue_reflections_once(*, worker_present: bool | None = None) -> int:
    """Sweep finished jobs without a reflection marker (the hook's safety net)."""
    if not _settings().reflection_enabled:
        return 0
    candidates = db.session.scalars(
        select(Job.id)
        .outerjoin(JobReflection, JobReflection.job_id == Job.id)
        .where(
            Job.status.in_(REFLECTABLE),
            Job.task_kind != REFLECTION_KIND,
            JobReflection.job_id.is_(None),
        )
        .order_by(Job.finished_at)
        .limit(BATCH)
    ).all()
    db.session.rollback()
    created = 0
    for job_id in candidates:
        if reflect_job_once(job_id, worker_present=worker_present) == "created":
            created += 1
    return created


def deliver_callback_once(job_id: uuid.UUID, attempt: int) -> str:
    """POST the job's result once; schedule the next try with backoff on failure."""
    from app.callbacks import CallbackRefused, deliver, job_payload

    settings = _settings()
    job = db.session.get(Job, job_id)
    if job is None or not job.callback_url:
        db.session.rollback()
        return "no-callback"
    delivered = db.session.scalar(
        select(func.count())
        .select_from(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.kind == "callback_delivered")
    )
    if delivered:  # a redelivered task after a success: nothing to do
        db.session.rollback()
        return "already-delivered"
    payload = job_payload(job)
    url = job.callback_url
    db.session.rollback()
    try:
        status = deliver(
            url,
            payload,
            secret=settings.callback_secret,
            allow_hosts=settings.callback_allow_hosts,
            timeout=settings.callback_timeout,
        )
        record_event(job_id, "callback_delivered", attempt=attempt, http_status=status)
        db.session.commit()
        return "delivered"
    except CallbackRefused as exc:
        record_event(job_id, "callback_refused", attempt=attempt, reason=str(exc))
        db.session.commit()
        return "refused"
    except Exception as exc:
        last = attempt >= settings.callback_max_attempts
        record_event(
            job_id,
            "callback_failed",
            attempt=attempt,
            reason=f"{type(exc).__name__}: {exc}"[:500],
            final=last,
        )
        db.session.commit()
        if last:
            return "gave-up"
        wait = settings.callback_backoff_seconds * (2 ** (attempt - 1))
        send_maintenance(DELIVER_CALLBACK, str(job_id), attempt + 1, countdown=wait)
        return "retrying"


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
