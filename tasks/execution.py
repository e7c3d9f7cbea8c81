"""One movement run, start to finish: claim, prompt, agent turn, rules, persist, hand on.

Short transactions bracket the slow part, so no database connection is held while
the LLM thinks:

1. claim   pending -> running with a lease; job queued -> running; prompt stored.
2. (no transaction) the agent turn, the rule judge and any loop-monitor judge, with
   the lease renewed from a side thread.
3. finish  running -> completed, guarded by our lease, then the next runs are
           inserted (or the job ended) in the same transaction; enqueue after commit.

A sub-movement of a parallel movement finishes its own run, then tries the join:
the last sibling to finish evaluates all()/any() and continues the chain.

Every transaction that changes a job's runs locks the job row first (lock_job), so
cancellation, finishing and joining never deadlock. A duplicate delivery fails the
claim and never reaches the LLM (DESIGN.md invariant 3).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from agents.llm import LLMError
from agents.runtime import TurnCancelled, TurnResult
from app.artifacts import save_reports
from app.config import Settings
from app.db import db
from app.jobs import start_movement
from app.lifecycle import AfterCommit, run_after_commit
from app.models import Job, MovementRun
from app.status import JobStatus, RunStatus
from app.subtasks import open_children, workspace_of
from app.transitions import claim_run, lock_job, lock_job_of_run, move_job, move_run, record_event
from pieces import (
    Movement,
    Piece,
    PromptContext,
    RuleMatch,
    build_prompt,
    extract_reports,
)
from tasks.agent_host import (
    AgentSpec,
    JobToolHost,
    agent_queue_hop,
    commit_workspace,
    load_agent,
)
from tasks.context import prompt_context
from tasks.decisions import Decision, choose_rule, decide, pause_for
from tasks.lease import LeaseKeeper
from tasks.outcomes import fail_attempt, fail_job_attempt, succeed_job
from tasks.routing import Route
from tasks.turns import (
    delegate_sync,
    llm_client,  # noqa: F401 - re-exported for tasks.maintenance
)
from tasks.turns import turn as agent_turn

log = logging.getLogger(__name__)

PREVIEW_CHARS = 400


@dataclass(frozen=True)
class Claimed:
    """What the worker needs after the claim transaction, detached from the session."""

    run_id: uuid.UUID
    job_id: uuid.UUID
    attempt: int
    name: str
    iteration: int
    tier: str
    prompt: str
    piece: Piece
    movement: Movement
    context: PromptContext
    parent_run_id: uuid.UUID | None
    # Completed top-level movements of this attempt, this one included (loop monitors).
    history: tuple[str, ...]
    owner: str = ""
    workspace_dir: Path | None = None
    # The registered agent the movement names (None: none named, or not registered).
    agent: AgentSpec | None = None
    # False for a child job, whose folder sits inside its parent's repository.
    own_repo: bool = True


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def execute_run(run_id: uuid.UUID, worker: str) -> str:
    """Run one movement run; returns a one-word outcome for the worker log."""
    settings = _settings()
    claimed = _claim(run_id, worker, settings.movement_lease_seconds)
    if claimed is None:
        return "skipped"

    lease = LeaseKeeper(
        current_app._get_current_object(), run_id, worker, settings.movement_lease_seconds
    )
    if claimed.movement.agent and claimed.agent is None:
        return fail_attempt(
            claimed.job_id,
            claimed.run_id,
            claimed.name,
            worker,
            f"movement {claimed.name} names agent {claimed.movement.agent!r}, "
            "which is not registered for this job's owner",
        )
    host = JobToolHost(
        settings,
        claimed.job_id,
        claimed.owner,
        in_parallel=claimed.parent_run_id is not None,
        delegate_sync=delegate_sync,
        run_id=claimed.run_id,
    )
    try:
        with lease:
            turn = agent_turn(
                claimed, claimed.movement, claimed.prompt, settings, host=host, lease=lease
            )
            if lease.lost.is_set():
                return "lost"
            for delegated in host.delegated:
                turn.add_usage(delegated)
            decision = pause_for(claimed, host)
            match, reports = None, {}
            if decision is None:
                match = choose_rule(claimed, claimed.movement, turn, settings)
                reports = extract_reports(claimed.movement, turn.content)
                if claimed.parent_run_id is None:
                    decision = decide(claimed, claimed.movement, match, turn, reports, settings)
    except TurnCancelled:
        log.info("run %s: stopped between tool calls (job cancelled or lease lost)", run_id)
        return "stopped"
    except LLMError as exc:
        return fail_attempt(
            claimed.job_id,
            claimed.run_id,
            claimed.name,
            worker,
            f"LLM call failed: {exc}",
            error=exc,
        )
    if lease.lost.is_set():
        return "lost"
    if claimed.parent_run_id is not None:
        outcome = _finish_sub(claimed, worker, turn, match, reports)
        if outcome != "completed":
            return outcome
        _commit_files(claimed)
        from tasks.parallel import join_parallel

        return join_parallel(claimed.parent_run_id)
    outcome = _finish(claimed, worker, turn, match, reports, decision)
    if outcome not in ("lost", "job-not-running"):
        _commit_files(claimed)
    return outcome


def _commit_files(claimed: Claimed) -> None:
    """Each completed movement commits the workspace, so later attempts see what was done."""
    from agents.workspace import Workspace

    if claimed.workspace_dir is not None and (claimed.workspace_dir / ".git").exists():
        commit_workspace(Workspace(claimed.workspace_dir), claimed.name)


# -- 1. claim ----------------------------------------------------------------


def _claim(run_id: uuid.UUID, worker: str, lease_seconds: float) -> Claimed | None:
    locked = lock_job_of_run(run_id)
    if locked is None:
        db.session.rollback()
        return None
    job_id, job_status = locked
    if job_status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        # Cancelled, finished, or waiting for a human: the run stays as it is.
        db.session.rollback()
        log.info("run %s: job %s is %s; not running it", run_id, job_id, job_status)
        return None
    if not claim_run(run_id, worker, lease_seconds):
        db.session.rollback()
        log.info("run %s: already claimed or no longer pending; dropping message", run_id)
        return None
    if job_status == JobStatus.QUEUED:
        move_job(job_id, JobStatus.QUEUED, JobStatus.RUNNING)
    run = db.session.get(MovementRun, run_id)
    job = db.session.get(Job, job_id)
    piece = Piece.model_validate(job.piece_snapshot)
    movement = piece.movement(run.name)
    agent = load_agent(job.owner_id, movement.agent) if movement.agent else None
    if agent is not None and agent.dedicated and run.tier != agent.queue:
        # Not this queue's work: undo the claim and hand the run to the agent's queue.
        name = run.name
        db.session.rollback()
        hop = agent_queue_hop(job_id, run_id, name, agent)
        db.session.commit()
        if hop is not None:
            hop.send()
        return None
    context = prompt_context(job, run)
    prompt = build_prompt(piece, movement, context)
    run.prompt = prompt
    job.current_movement = run.name
    job.current_activity = f"running {run.name}"
    record_event(
        job.id,
        "movement_started",
        movement=run.name,
        iteration=run.iteration,
        tier=run.tier,
        run_id=str(run.id),
        attempt=run.attempt,
        parent=_parent_name(run),
    )
    claimed = Claimed(
        run_id=run.id,
        job_id=job.id,
        attempt=run.attempt,
        name=run.name,
        iteration=run.iteration,
        tier=run.tier,
        prompt=prompt,
        piece=piece,
        movement=movement,
        context=context,
        parent_run_id=run.parent_run_id,
        history=(*history(job.id, run.attempt), run.name),
        owner=job.owner_id,
        workspace_dir=workspace_of(job, current_app.extensions["legato.settings"]),
        agent=agent,
        own_repo=not (job.payload or {}).get("workspace"),
    )
    db.session.commit()
    return claimed


def history(job_id: uuid.UUID, attempt: int) -> list[str]:
    return list(
        db.session.scalars(
            select(MovementRun.name)
            .where(
                MovementRun.job_id == job_id,
                MovementRun.attempt == attempt,
                MovementRun.parent_run_id.is_(None),
                MovementRun.status == RunStatus.COMPLETED.value,
            )
            .order_by(MovementRun.iteration)
        )
    )


def _parent_name(run: MovementRun) -> str | None:
    if run.parent_run_id is None:
        return None
    return db.session.scalar(select(MovementRun.name).where(MovementRun.id == run.parent_run_id))


# -- 3. finish -----------------------------------------------------------------


def _finish(
    claimed: Claimed,
    worker: str,
    turn: TurnResult,
    match: RuleMatch | None,
    reports: dict[str, str],
    decision: Decision,
) -> str:
    if lock_job(claimed.job_id) != JobStatus.RUNNING:
        db.session.rollback()
        return "job-not-running"
    if not _complete_run(claimed, worker, turn, match, reports, decision.route):
        db.session.rollback()
        log.info("run %s: lease lost before completion; output discarded", claimed.run_id)
        return "lost"
    for kind, data in decision.events:
        record_event(claimed.job_id, kind, **data)
    outcome, after = apply_route(
        claimed.job_id, claimed.piece, decision.route, claimed.iteration, turn.content
    )
    if decision.wait_subtasks and outcome == "continued" and open_children(claimed.job_id):
        # Children still running: their end hook re-queues the job (app.subtasks). If
        # they all ended already, the re-run simply goes ahead now.
        move_job(
            claimed.job_id,
            JobStatus.RUNNING,
            JobStatus.WAITING_SUBTASKS,
            current_activity=f"waiting for subtasks before {claimed.name}",
        )
        record_event(claimed.job_id, "waiting_subtasks", movement=claimed.name)
        outcome, after = "waiting-subtasks", []
    db.session.commit()
    run_after_commit(after)
    return outcome


def _finish_sub(
    claimed: Claimed,
    worker: str,
    turn: TurnResult,
    match: RuleMatch | None,
    reports: dict[str, str],
) -> str:
    if lock_job(claimed.job_id) != JobStatus.RUNNING:
        db.session.rollback()
        return "job-not-running"
    if not _complete_run(claimed, worker, turn, match, reports, None):
        db.session.rollback()
        return "lost"
    db.session.commit()
    return "completed"


def _complete_run(
    claimed: Claimed,
    worker: str,
    turn: TurnResult,
    match: RuleMatch | None,
    reports: dict[str, str],
    decided: Route | None,
) -> bool:
    next_step = None
    if decided is not None:
        next_step = decided.target if decided.kind == "movement" else decided.kind.upper()
    completed = move_run(
        claimed.run_id,
        RunStatus.RUNNING,
        RunStatus.COMPLETED,
        held_by=worker,
        output=turn.content,
        matched_rule=match.index if match else None,
        matched_condition=match.condition if match else None,
        next=next_step,
        tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out,
        latency_ms=turn.latency_ms,
        model=turn.model,
        lease_expires_at=None,
    )
    if not completed:
        return False
    save_reports(claimed.job_id, claimed.attempt, claimed.run_id, reports)
    add_tokens(claimed.job_id, turn)
    record_event(
        claimed.job_id,
        "movement_completed",
        movement=claimed.name,
        iteration=claimed.iteration,
        next=next_step,
        condition=match.condition if match else None,
        tokens_in=turn.tokens_in,
        tokens_out=turn.tokens_out,
        latency_ms=turn.latency_ms,
        reports=sorted(reports),
        output_preview=turn.content[:PREVIEW_CHARS],
    )
    return True


def apply_route(
    job_id: uuid.UUID, piece: Piece, decided: Route, iteration: int, output: str
) -> tuple[str, list[AfterCommit]]:
    """Apply a route inside the finishing transaction; returns (outcome, after-commit work)."""
    if decided.kind == "complete":
        return succeed_job(job_id, output)
    if decided.kind == "abort":
        return fail_job_attempt(job_id, decided.reason)
    job = db.session.get(Job, job_id)
    dispatches = start_movement(job, piece, decided.target, iteration=iteration + 1)
    job.current_movement = decided.target
    job.current_activity = f"queued {decided.target}"
    if decided.wait_for_input:
        # The next runs stay pending; posting an input re-queues the job and sends them.
        move_job(
            job_id,
            JobStatus.RUNNING,
            JobStatus.WAITING_HUMAN,
            current_activity=f"waiting for user input before {decided.target}",
        )
        record_event(job_id, "waiting_input", movement=decided.target)
        return "waiting-input", []
    return "continued", [d.send for d in dispatches]


def add_tokens(job_id: uuid.UUID, turn: TurnResult) -> None:
    if not (turn.tokens_in or turn.tokens_out):
        return
    db.session.execute(
        Job.__table__.update()
        .where(Job.id == job_id)
        .values(
            tokens_in=Job.tokens_in + turn.tokens_in, tokens_out=Job.tokens_out + turn.tokens_out
        )
    )
