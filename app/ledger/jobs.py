"""Jobs: creation, attempts, the end of a job, cancellation, waiting and resuming.

Every function runs on a unit of work that already holds the job's lock (creation is
the exception: the job does not exist yet) and returns nothing to commit itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import BigInteger, bindparam, func, insert, select, update
from sqlalchemy.sql import ClauseElement

import app.ledger.runs as run_ledger
from app.db import utcnow, utcnow_plus
from app.ledger.runs import Dispatch
from app.ledger.work import Work
from app.models import HANDOFF, Job, JobArtifact, MovementRun
from app.status import JOB_CANCELLABLE, JOB_TERMINAL, JobStatus, RunStatus, job_transition_allowed
from pieces import Piece

_jobs, _runs, _artifacts = Job.__table__, MovementRun.__table__, JobArtifact.__table__


def move(
    w: Work,
    job_id: uuid.UUID,
    current: JobStatus | Iterable[JobStatus],
    target: JobStatus,
    **values: Any,
) -> bool:
    """Move a job from one of `current` to `target` (a guarded UPDATE)."""
    expected = [current] if isinstance(current, str) else list(current)
    for status in expected:
        if not job_transition_allowed(status, target):
            raise run_ledger.IllegalTransition(f"job {status} -> {target}")
    if target == JobStatus.RUNNING:
        values.setdefault("started_at", func.coalesce(_jobs.c.started_at, utcnow()))
    if target in JOB_TERMINAL:
        values.setdefault("finished_at", utcnow())
    stmt = (
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.status.in_([str(s) for s in expected]))
        .values(status=target.value, updated_at=utcnow(), **values)
    )
    moved = w.conn.execute(stmt).rowcount == 1
    if moved and job_id == w.job_id:
        w.job_status = target.value
    return moved


# Prebuilt: the columns to SET come from the parameters' keys, so the statement (and its
# cache key) is built once instead of on every call.
_SET = update(_jobs).where(_jobs.c.id == bindparam("b_job_id"))
_SET_AND_ADD = _SET.values(
    tokens_in=_jobs.c.tokens_in + bindparam("b_tokens_in", type_=BigInteger),
    tokens_out=_jobs.c.tokens_out + bindparam("b_tokens_out", type_=BigInteger),
)


def set_values(
    w: Work, job_id: uuid.UUID, *, tokens: tuple[int, int] = (0, 0), **values: Any
) -> None:
    """Non-status columns (current activity, movement) of a locked job; `tokens`
    (in, out) are added to its totals by the same statement."""
    if any(isinstance(v, ClauseElement) for v in values.values()):
        stmt = update(_jobs).where(_jobs.c.id == job_id).values(**values)
        w.conn.execute(stmt)
        values = {}
        if not any(tokens):
            return
    params = {"b_job_id": job_id, **values}
    if any(tokens):
        params.update(b_tokens_in=tokens[0], b_tokens_out=tokens[1])
        w.conn.execute(_SET_AND_ADD, params)
    elif values:
        w.conn.execute(_SET, params)


def add_tokens(w: Work, job_id: uuid.UUID, tokens_in: int, tokens_out: int) -> None:
    set_values(w, job_id, tokens=(tokens_in, tokens_out))


def add_artifact(
    w: Work,
    job_id: uuid.UUID,
    kind: str,
    name: str,
    content: str,
    attempt: int,
    run_id: uuid.UUID | None = None,
) -> None:
    w.conn.execute(
        insert(_artifacts).values(
            id=uuid.uuid4(),
            job_id=job_id,
            kind=kind,
            name=name,
            content=content,
            attempt=attempt,
            movement_run_id=run_id,
        )
    )


# -- creation and attempts -------------------------------------------------------------


def create(
    w: Work,
    *,
    owner_id: str,
    instruction: str,
    piece: Piece,
    tier: str,
    max_attempts: int,
    visibility: str = "private",
    payload: dict[str, Any] | None = None,
    interactive: bool = False,
    callback_url: str | None = None,
    task_kind: str = "piece",
    parent_job_id: uuid.UUID | None = None,
    subtask_depth: int = 0,
    workspace: str | None = None,
    subtask_index: int | None = None,
    call_run_id: uuid.UUID | None = None,
    reports_path: str | None = None,
    first_iteration: int = 1,
    effect_run_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, list[Dispatch]]:
    """Insert a queued job and its first movement's runs; returns what to send after commit.

    A called workflow (app/calls.py) names the run that called it and starts at the
    caller's iteration counter (`first_iteration`)."""
    job_id = uuid.uuid4()
    w.conn.execute(
        insert(_jobs).values(
            id=job_id,
            owner_id=owner_id,
            visibility=visibility,
            tier=tier,
            piece_name=piece.name,
            piece_snapshot=piece.model_dump(mode="json"),
            instruction=instruction,
            status=JobStatus.QUEUED.value,
            attempt=1,
            max_attempts=max_attempts,
            payload=payload or {},
            interactive=interactive,
            callback_url=callback_url,
            task_kind=task_kind,
            parent_job_id=parent_job_id,
            subtask_depth=subtask_depth,
            workspace=workspace,
            subtask_index=subtask_index,
            call_run_id=call_run_id,
            reports_path=reports_path,
            effect_run_id=effect_run_id,
            current_movement=piece.initial_movement,
            tokens_in=0,
            tokens_out=0,
        )
    )
    if w.job_id is None:  # a unit that created its job (not a parent spawning a child)
        w.job_id, w.job_status, w.job_attempt = job_id, JobStatus.QUEUED.value, 1
    w.event(
        "job_submitted",
        job_id,
        piece=piece.name,
        tier=tier,
        movement=piece.initial_movement,
        attempt=1,
    )
    return job_id, start_movement(
        w, job_id, 1, tier, piece, piece.initial_movement, iteration=first_iteration
    )


def start_movement(
    w: Work,
    job_id: uuid.UUID,
    attempt: int,
    job_tier: str,
    piece: Piece,
    name: str,
    *,
    iteration: int,
    kind: str | None = None,
    **values: Any,
) -> list[Dispatch]:
    """Insert the runs for movement `name`: one, or a waiting parent and its members."""
    movement = piece.movement(name) if kind != "loop_judge" else None
    tier = (movement.tier if movement else values.pop("tier", None)) or job_tier
    # A parallel step that chooses its members (dynamic) or limits how many run at once
    # starts as one pending run; its first visit starts the members (tasks.engine.fanout).
    planned = movement is not None and (movement.dynamic is not None or movement.concurrency)
    if movement is None or movement.kind != "parallel" or planned:
        delay = _delay(movement)
        if delay:
            values["delay"] = delay
        run_id = run_ledger.insert_run(
            w,
            job_id=job_id,
            attempt=attempt,
            name=name,
            tier=tier,
            iteration=iteration,
            kind=kind or (movement.kind if movement else "agent"),
            **values,
        )
        if delay:
            _delayed(w, job_id, run_id, name, delay)
        return [Dispatch(run_id, job_id, name, tier, countdown=delay or None)]
    parent = run_ledger.insert_run(
        w,
        job_id=job_id,
        attempt=attempt,
        name=name,
        tier=tier,
        iteration=iteration,
        kind="parallel",
        status=RunStatus.WAITING,
    )
    w.event(
        "parallel_started",
        job_id,
        movement=name,
        iteration=iteration,
        sub_movements=[sub.name for sub in movement.parallel],
    )
    dispatches = []
    for sub in movement.parallel:
        sub_tier = sub.tier or tier
        delay = _delay(sub)
        run_id = run_ledger.insert_run(
            w,
            job_id=job_id,
            attempt=attempt,
            name=sub.name,
            tier=sub_tier,
            iteration=iteration,
            parent_run_id=parent,
            delay=delay or None,
        )
        if delay:
            _delayed(w, job_id, run_id, sub.name, delay)
        dispatches.append(Dispatch(run_id, job_id, sub.name, sub_tier, countdown=delay or None))
    return dispatches


def _delay(movement) -> float:
    """A step's delay_before_ms in seconds (capped by STEP_DELAY_MAX_MS), 0 for none."""
    wanted = getattr(movement, "delay_before_ms", None) or 0
    cap = current_app.extensions["legato.settings"].step_delay_max_ms
    if cap is not None:
        wanted = min(wanted, cap)
    return wanted / 1000.0


def _delayed(w: Work, job_id: uuid.UUID, run_id: uuid.UUID, name: str, delay: float) -> None:
    """TAKT sleeps before a delayed step; legato keeps the run pending until not_before
    (the claim refuses it earlier), which a worker restart cannot cut short."""
    at = w.conn.execute(select(_runs.c.not_before).where(_runs.c.id == run_id)).scalar_one()
    w.event(
        "step_delayed",
        job_id,
        movement=name,
        run_id=str(run_id),
        delay_ms=round(delay * 1000),
        not_before=at.isoformat() if hasattr(at, "isoformat") else str(at),
    )


def pending_dispatches(w: Work, job_id: uuid.UUID, attempt: int) -> list[Dispatch]:
    rows = w.conn.execute(
        select(_runs.c.id, _runs.c.name, _runs.c.tier).where(
            _runs.c.job_id == job_id,
            _runs.c.attempt == attempt,
            _runs.c.status == RunStatus.PENDING.value,
        )
    )
    return [Dispatch(r.id, job_id, r.name, r.tier) for r in rows]


def resume(w: Work, job_id: uuid.UUID, waiting: JobStatus, reason: str) -> bool:
    """A waiting job goes back to the queue at the same point; its pending runs are sent."""
    if not move(w, job_id, waiting, JobStatus.QUEUED, current_activity=None):
        return False
    attempt = w.conn.execute(select(_jobs.c.attempt).where(_jobs.c.id == job_id)).scalar_one()
    w.event("job_resumed", job_id, reason=reason)
    w.after_all([d.send for d in pending_dispatches(w, job_id, attempt)])
    return True


# -- the end of an attempt ---------------------------------------------------------------


def job_ended(w: Work, job_id: uuid.UUID, status: str) -> None:
    """Run the job-end hooks (registered in create_app) inside this unit of work."""
    w.ended[job_id] = None  # the hooks share one read of the ended job (Work.ended_job)
    try:
        for hook in current_app.extensions.get("legato.job_end_hooks", ()):
            hook(w, job_id, status)
    finally:
        w.ended.pop(job_id, None)


def succeed(
    w: Work, job_id: uuid.UUID, result: str, preview_chars: int = 400, returned: str | None = None
) -> bool:
    """The job completed; `returned` is the label a `return:` rule ended it with."""
    if not move(
        w,
        job_id,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
        result=result,
        current_activity=None,
        returned=returned,
        abort_kind=None,
    ):
        return False
    run_ledger.cancel_open(w, job_id)
    w.event("job_succeeded", job_id, result_preview=result[:preview_chars])
    job_ended(w, job_id, JobStatus.SUCCEEDED.value)
    return True


def fail_attempt(
    w: Work,
    job_id: uuid.UUID,
    reason: str,
    *,
    retry: bool | None = None,
    abort_kind: str | None = None,
) -> str | None:
    """The current attempt cannot go on: to `retry` with a handoff, or `failed` for good.

    `retry` defaults to RETRY_ON_ABORT (the piece's own aborts); `abort_kind` is TAKT's
    word for why (kept on the job for a caller of this workflow); returns the new
    status, or None when the job was no longer running.
    """
    from app.handoff import build_handoff

    settings = current_app.extensions["legato.settings"]
    if retry is None:
        retry = settings.retry_on_abort
    job = w.conn.execute(
        select(_jobs.c.attempt, _jobs.c.max_attempts, _jobs.c.owner_id, _jobs.c.piece_name).where(
            _jobs.c.id == job_id
        )
    ).first()
    if job is None:
        return None
    if retry and job.attempt < job.max_attempts:
        wait = settings.backoff_for(job.attempt)
        if not move(
            w,
            job_id,
            JobStatus.RUNNING,
            JobStatus.RETRY,
            next_retry_at=utcnow_plus(wait),
            error_summary=reason,
            abort_reason=reason,
            current_activity=f"retrying in {wait:g}s (attempt {job.attempt + 1})",
        ):
            return None
        run_ledger.cancel_open(w, job_id)
        for hook in current_app.extensions.get("legato.attempt_retry_hooks", ()):
            hook(w, job_id, job.attempt)
        handoff = build_handoff(w.conn, job_id, job, reason, settings.handoff_max_chars)
        add_artifact(w, job_id, HANDOFF, "handoff", handoff, job.attempt)
        w.event(
            "job_retry_scheduled",
            job_id,
            reason=reason,
            attempt=job.attempt,
            next_attempt=job.attempt + 1,
            backoff_s=wait,
        )
        return JobStatus.RETRY.value
    summary = (
        reason
        if job.attempt <= 1
        else (f"attempt {job.attempt} of {job.max_attempts} failed: {reason}")
    )
    if not move(
        w,
        job_id,
        JobStatus.RUNNING,
        JobStatus.FAILED,
        abort_reason=reason,
        error_summary=summary,
        current_activity=None,
        abort_kind=abort_kind,
    ):
        return None
    run_ledger.cancel_open(w, job_id)
    w.event("job_failed", job_id, reason=reason, attempt=job.attempt)
    job_ended(w, job_id, JobStatus.FAILED.value)
    return JobStatus.FAILED.value


def cancel(w: Work, job_id: uuid.UUID, reason: str) -> bool:
    """Cancel a job that is not yet terminal; its open runs are cancelled with it."""
    if not move(
        w,
        job_id,
        JOB_CANCELLABLE,
        JobStatus.CANCELLED,
        abort_reason=reason,
        current_activity=None,
        abort_kind="interrupt",
    ):
        return False
    run_ledger.cancel_open(w, job_id)
    w.event("job_cancelled", job_id, reason=reason)
    job_ended(w, job_id, JobStatus.CANCELLED.value)
    return True


def start_attempt(
    w: Work,
    job_id: uuid.UUID,
    piece: Piece,
    *,
    current: JobStatus | Iterable[JobStatus],
    movement: str | None = None,
    reason: str,
    **extra: Any,
) -> list[Dispatch] | None:
    """attempt+1, queued, starting at `movement` (default: the piece's first)."""
    job = w.conn.execute(select(_jobs.c.attempt, _jobs.c.tier).where(_jobs.c.id == job_id)).first()
    start = movement or piece.initial_movement
    if job is None or not move(
        w,
        job_id,
        current,
        JobStatus.QUEUED,
        attempt=job.attempt + 1,
        next_retry_at=None,
        current_activity=None,
        current_movement=start,
        result=None,
        returned=None,
        abort_kind=None,
        finished_at=None,
    ):
        return None
    w.job_attempt = job.attempt + 1
    w.event(
        "job_attempt_started",
        job_id,
        attempt=job.attempt + 1,
        movement=start,
        reason=reason,
        **extra,
    )
    return start_movement(w, job_id, job.attempt + 1, job.tier, piece, start, iteration=1)
