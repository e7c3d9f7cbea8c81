"""The claim: one transaction that takes a pending run and gathers what the worker needs.

It locks the job, hands the run on to a dedicated agent's queue when it belongs
there, moves the run `pending -> running` with a lease (a redelivered duplicate finds
nothing pending and drops itself), starts the job, and reads the run's recorded
phases and prompt context. Everything after it runs without a transaction open.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Settings
from app.ledger import (
    Dispatch,
    claim,
    move_job,
    set_queue,
    set_values,
    unit_of_work,
)
from app.piece_cache import pieces
from app.status import JobStatus
from pieces import Answer, Movement, Piece, PromptContext, SubResult
from pieces.loops import judge_movement
from pieces.team import part_movement
from tasks.agent_host import AgentSpec, load_agent
from tasks.engine import reads

log = logging.getLogger(__name__)


@dataclass
class Claimed:
    run: Any  # the claimed movement_runs row
    job: Any  # the job's facts (reads.JOB_FACTS)
    piece: Piece
    movement: Movement
    owner: str
    workspace: Path
    agent: AgentSpec | None
    answers: list[Answer]
    next_seq: int
    context: PromptContext | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    subs: list[SubResult] = field(default_factory=list)

    @property
    def is_sub(self) -> bool:
        return self.run.parent_run_id is not None


def workspace_dir(settings: Settings, job) -> Path:
    """A job's folder under WORKSPACE_ROOT: its own, or the one its parent gave it."""
    root = settings.workspaces_dir
    folder = (root / job.workspace).resolve() if job.workspace else root / str(job.id)
    if folder != root and root not in folder.parents:
        raise ValueError(f"workspace {folder} of job {job.id} is outside WORKSPACE_ROOT")
    return folder


def movement_for(piece: Piece, run) -> Movement:
    if run.kind == "loop_judge":
        return judge_movement(piece, run.loop_monitor or 0, run.cycle_count or 0)
    if run.kind == "part":
        return part_movement(piece, run)
    return piece.movement(run.name)


def claim_run(run_id: uuid.UUID, owner: str, settings: Settings) -> Claimed | None:
    """Claim `run_id` for `owner`; None when there is nothing (more) to do here."""
    with unit_of_work(run_id=run_id) as work:
        if work.job_status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            log.info("run %s: job is %s; not running it", run_id, work.job_status)
            work.discard()
            return None
        job = reads.job_facts(work.conn, work.job_id)
        piece = pieces.get(work.conn, job.id)
        row = claim(work, run_id, owner, settings.movement_lease_seconds)
        if row is None:
            log.info("run %s: already claimed or no longer pending; dropping message", run_id)
            work.discard()
            return None
        movement = movement_for(piece, row)
        agent = load_agent(job.owner_id, movement.agent) if movement.agent else None
        if agent is not None and agent.dedicated and row.tier != agent.queue:
            # Not this queue's work: hand the run (still pending) to the agent's queue.
            work.discard()
            return _hop(run_id, row, agent)
        if work.job_status == JobStatus.QUEUED:
            move_job(work, job.id, JobStatus.QUEUED, JobStatus.RUNNING)
        answers, next_seq = ([], 1)
        if row.visits > 1 or row.kind in ("parallel", "team_leader"):
            answers, next_seq = reads.recorded_answers(work.conn, row.id)
        claimed = Claimed(
            run=row,
            job=job,
            piece=piece,
            movement=movement,
            owner=owner,
            workspace=workspace_dir(settings, job),
            agent=agent,
            answers=answers,
            next_seq=next_seq,
        )
        if row.kind == "parallel":
            claimed.subs = reads.sub_results(work.conn, row.id)
        else:
            claimed.context = _context(work.conn, settings, claimed)
            claimed.history = reads.conversation(
                work.conn,
                job.id,
                row.attempt,
                movement.conversation_key,
                settings.conversation_max_turns,
                settings.conversation_max_chars,
            )
        if row.visits == 1 and row.parent_run_id is None:
            set_values(
                work,
                job.id,
                current_movement=row.name,
                current_activity=f"running {row.name}",
            )
        if row.visits == 1:
            work.event(
                "movement_started",
                movement=row.name,
                kind=row.kind,
                iteration=row.iteration,
                tier=row.tier,
                run_id=str(row.id),
                attempt=row.attempt,
                parent=str(row.parent_run_id) if row.parent_run_id else None,
            )
        if not answers and row.kind != "parallel":
            first = "decompose" if row.kind == "team_leader" else "execute"
            work.event("phase_started", run_id=str(row.id), movement=row.name, phase=1, kind=first)
        return claimed


def _hop(run_id: uuid.UUID, row, agent: AgentSpec) -> None:
    with unit_of_work(run_id=run_id) as work:
        if set_queue(work, run_id, agent.queue):
            work.event("movement_rerouted", movement=row.name, queue=agent.queue)
            work.after(Dispatch(run_id, row.job_id, row.name, agent.queue).send)
    return None


def _context(conn, settings: Settings, claimed: Claimed) -> PromptContext:
    from app.notes import REFLECTION_KIND, notes_for

    run, job = claimed.run, claimed.job
    inputs, reports, handoff = reads.attempt_texts(conn, job.id, run.attempt)
    notes = None
    if job.task_kind != REFLECTION_KIND:
        notes = notes_for(job.owner_id, job.piece_name, settings.notes_max_chars)
    previous = None
    if run.parent_run_id is None or claimed.piece.dialect == "piece":
        previous = reads.previous_output(conn, run)
    return PromptContext(
        task=job.instruction,
        iteration=run.iteration,
        movement_iteration=run.movement_iteration,
        previous_response=previous,
        user_inputs=inputs,
        reports=reports,
        report_dir=str(claimed.workspace / "reports"),
        working_dir=str(claimed.workspace),
        cycle_count=run.cycle_count or 0,
        notes=notes,
        retry_note=handoff,
        interactive=job.interactive,
    )
