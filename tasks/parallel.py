"""The join of a parallel movement: the last sub-movement to end continues the chain."""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import select

from agents.llm import LLMError
from agents.runtime import TurnResult
from app.db import db
from app.lifecycle import run_after_commit
from app.models import Job, MovementRun
from app.status import RUN_TERMINAL, JobStatus, RunStatus
from app.transitions import lock_job, move_run, record_event
from pieces import Piece, evaluate_aggregate
from tasks.context import prompt_context
from tasks.execution import PREVIEW_CHARS, Claimed, add_tokens, apply_route, decide, history
from tasks.outcomes import fail_attempt
from tasks.routing import Route


def join_parallel(parent_run_id: uuid.UUID) -> str:
    """Complete a parallel movement once every sub-movement has ended. Idempotent.

    Any sibling (or a recovery sweep) may call it; the guarded completion of the
    parent run, under the job lock, lets exactly one caller continue the chain.
    """
    settings = current_app.extensions["legato.settings"]
    job_id = db.session.scalar(select(MovementRun.job_id).where(MovementRun.id == parent_run_id))
    if job_id is None or lock_job(job_id) != JobStatus.RUNNING:
        db.session.rollback()
        return "job-not-running"
    parent = db.session.get(MovementRun, parent_run_id)
    children = list(
        db.session.scalars(
            select(MovementRun)
            .where(MovementRun.parent_run_id == parent_run_id)
            .order_by(MovementRun.created_at)
        )
    )
    if parent.status != RunStatus.RUNNING or any(
        RunStatus(c.status) not in RUN_TERMINAL for c in children
    ):
        db.session.rollback()
        return "completed"
    job = db.session.get(Job, job_id)
    piece = Piece.model_validate(job.piece_snapshot)
    movement = piece.movement(parent.name)
    outcomes = {
        c.name: c.matched_condition
        for c in children
        if c.status == RunStatus.COMPLETED and c.matched_condition
    }
    match = evaluate_aggregate(movement, outcomes)
    output = "\n\n".join(f"## {c.name}\n{c.output or ''}" for c in children)
    claimed = Claimed(
        run_id=parent.id,
        job_id=job.id,
        attempt=parent.attempt,
        name=parent.name,
        iteration=parent.iteration,
        tier=parent.tier,
        prompt="",
        piece=piece,
        movement=movement,
        context=prompt_context(job, parent),
        parent_run_id=None,
        history=(*history(job.id, parent.attempt), parent.name),
    )
    db.session.rollback()  # release the lock while a loop judge may think

    turn = TurnResult(content=output, model="", llm_calls=0)
    unmatched = f"no rule matched in {movement.name} (sub-movement outcomes: {outcomes or 'none'})"
    try:
        decision = decide(claimed, movement, match, turn, {}, settings)
    except LLMError as exc:
        return fail_attempt(
            job_id, parent_run_id, parent.name, None, f"loop judge call failed: {exc}", error=exc
        )
    if match is None:
        decision.route = Route("abort", reason=unmatched)

    if lock_job(job_id) != JobStatus.RUNNING:
        db.session.rollback()
        return "job-not-running"
    next_step = (
        decision.route.target if decision.route.kind == "movement" else decision.route.kind.upper()
    )
    if not move_run(
        parent_run_id,
        RunStatus.RUNNING,
        RunStatus.COMPLETED,
        output=output,
        matched_rule=match.index if match else None,
        matched_condition=match.condition if match else None,
        next=next_step,
        tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out,
    ):
        db.session.rollback()
        return "completed"  # another sibling joined first
    add_tokens(job_id, turn)
    record_event(
        job_id,
        "movement_completed",
        movement=parent.name,
        iteration=parent.iteration,
        next=next_step,
        condition=match.condition if match else None,
        outcomes=outcomes,
        tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out,
        latency_ms=0,
        reports=[],
        output_preview=output[:PREVIEW_CHARS],
    )
    for kind, data in decision.events:
        record_event(job_id, kind, **data)
    outcome, after = apply_route(job_id, piece, decision.route, parent.iteration, output)
    db.session.commit()
    run_after_commit(after)
    return outcome
