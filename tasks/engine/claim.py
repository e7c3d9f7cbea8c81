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
    delay_left,
    move_job,
    set_queue,
    set_values,
    unit_of_work,
)
from app.piece_cache import pieces
from app.status import JobStatus
from pieces import Answer, Movement, Piece, PromptContext, SubResult
from pieces.dynamic import PARALLEL_SELECT
from pieces.facet_select import FACET_SELECT
from pieces.loops import judge_movement
from pieces.team import part_movement
from tasks.agent_host import AgentSpec, load_agent
from tasks.engine import reads
from tasks.engine.context import prompt_texts

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
    # A parallel parent: its members once started (None: still to choose), and how many
    # visits in a row before this one routed failed members.
    participants: tuple[str, ...] | None = None
    error_streak: int = 0
    # The previous visit's selection (dynamic parallel members, or dynamic facets).
    previous_selection: dict[str, Any] | None = None
    # A workflow_call run resumed after its called workflow ended: the shared step
    # counter as that workflow left it (tasks.engine.call).
    steps_used: int | None = None
    # Workflow dialect: the state this attempt's completed runs left (pieces/state.py).
    state: dict[str, Any] = field(default_factory=dict)

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


def reports_folder(job) -> str:
    """A job's reports folder in its workspace (a called workflow's is namespaced)."""
    return job.reports_path or "reports"


def movement_for(piece: Piece, run) -> Movement:
    if run.kind == "loop_judge":
        return judge_movement(piece, run.loop_monitor or 0, run.cycle_count or 0)
    if run.kind == "part":
        return part_movement(piece, run)
    return piece.movement(run.name)


def claim_run(run_id: uuid.UUID, owner: str, settings: Settings) -> Claimed | None:
    """Claim `run_id` for `owner`; None when there is nothing (more) to do here."""
    with unit_of_work(run_id=run_id, read=reads.JOB_FACTS) as work:
        claimed = _claim(work, run_id, owner, settings)
    if isinstance(claimed, _Later):
        # Delivered before its step's delay ran out (a resume, a redelivery): send it
        # again for the rest of the wait; the database keeps the time, not the message.
        Dispatch(run_id, claimed.job_id, claimed.movement, claimed.queue, claimed.left).send()
        return None
    if isinstance(claimed, _Hop):
        # Not this queue's work: the claim was rolled back; hand the (still pending)
        # run to the dedicated agent's queue in a transaction of its own.
        with unit_of_work(run_id=run_id) as work:
            if set_queue(work, run_id, claimed.queue):
                work.event("movement_rerouted", movement=claimed.movement, queue=claimed.queue)
                work.after(Dispatch(run_id, work.job_id, claimed.movement, claimed.queue).send)
        return None
    return claimed


@dataclass(frozen=True)
class _Hop:
    movement: str
    queue: str


@dataclass(frozen=True)
class _Later:
    job_id: uuid.UUID
    movement: str
    queue: str
    left: float


def _claim(
    work, run_id: uuid.UUID, owner: str, settings: Settings
) -> Claimed | _Hop | _Later | None:
    if work.job_status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        log.info("run %s: job is %s; not running it", run_id, work.job_status)
        work.discard()
        return None
    job = work.job  # read by the locking statement
    piece = pieces.get(work.conn, job.id)
    row = claim(work, run_id, owner, settings.movement_lease_seconds)
    if row is None:
        left = delay_left(work, run_id)
        if left is not None:
            work.discard()
            run = reads.run_route(work.conn, run_id)
            return _Later(job.id, run.name, run.tier, left)
        log.info("run %s: already claimed or no longer pending; dropping message", run_id)
        work.discard()
        return None
    movement = movement_for(piece, row)
    agent = load_agent(job.owner_id, movement.agent) if movement.agent else None
    if agent is not None and agent.dedicated and row.tier != agent.queue:
        work.discard()
        return _Hop(row.name, agent.queue)
    # The job's current movement, set with its start when it starts (one statement).
    current = {}
    if row.visits == 1 and row.parent_run_id is None:
        current = dict(current_movement=row.name, current_activity=f"running {row.name}")
    if work.job_status == JobStatus.QUEUED and move_job(
        work, job.id, JobStatus.QUEUED, JobStatus.RUNNING, **current
    ):
        current = {}
    answers, next_seq = ([], 1)
    # Recorded phases exist on a later visit, on a re-run (it carries its timed-out
    # predecessor's), and on a parent that collects its children's answers.
    if row.visits > 1 or row.retry_count > 0 or row.kind in ("parallel", "team_leader"):
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
    if piece.dialect == "workflow":
        claimed.state = reads.workflow_state(work.conn, job.id, row.attempt)
    if row.kind == "parallel":
        _parallel(work.conn, claimed)
        if claimed.participants is None:
            _context(work.conn, settings, claimed, None)
    else:
        _context(work.conn, settings, claimed, movement.conversation_key)
        if movement.dynamic_facets is not None:
            claimed.previous_selection = reads.previous_selection(work.conn, row, FACET_SELECT)
    if current:
        set_values(work, job.id, **current)
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
    if not answers:
        first = _first_call(claimed)
        if first is not None:
            work.event(
                "phase_started",
                run_id=str(row.id),
                movement=row.name,
                phase=first[1],
                kind=first[0],
            )
    return claimed


def _first_call(claimed: Claimed) -> tuple[str, int] | None:
    """The kind and phase of a fresh run's first call, for its phase_started event."""
    run, movement = claimed.run, claimed.movement
    if movement.kind in ("workflow_call", "system"):
        return None  # no model call: a called workflow, or a system step
    if run.kind == "parallel":
        if claimed.participants is None and movement.dynamic is not None:
            return PARALLEL_SELECT, 0
        return None
    if run.kind == "team_leader":
        return "decompose", 1
    if movement.dynamic_facets is not None:
        return FACET_SELECT, 0
    return "execute", 1


def _parallel(conn, claimed: Claimed) -> None:
    """A parallel parent's members (in declaration order), or what choosing them needs."""
    run, movement = claimed.run, claimed.movement
    order = {m.name: i for i, m in enumerate(movement.parallel)}
    claimed.subs = sorted(
        reads.sub_results(conn, run.id), key=lambda s: order.get(s.name, len(order))
    )
    started = (run.spec or {}).get("participants")
    if started is None:
        started = reads.members(conn, run.id) or None
    if started is not None:
        claimed.participants = tuple(sorted(started, key=lambda n: order.get(n, len(order))))
        claimed.error_streak = reads.error_streak(conn, run)
    elif movement.dynamic is not None:
        claimed.previous_selection = reads.previous_selection(conn, run, "")


def _context(conn, settings: Settings, claimed: Claimed, session_key: str | None) -> None:
    """The prompt context (and the conversation of `session_key`), in one query."""
    from app.notes import REFLECTION_KIND

    run, job = claimed.run, claimed.job
    texts = prompt_texts(
        conn,
        job,
        run,
        notes_budget=settings.notes_max_chars if job.task_kind != REFLECTION_KIND else None,
        previous=run.parent_run_id is None or claimed.piece.dialect == "piece",
        session_key=session_key,
        max_turns=settings.conversation_max_turns,
        max_chars=settings.conversation_max_chars,
    )
    claimed.history = texts.history
    claimed.context = PromptContext(
        task=job.instruction,
        iteration=run.iteration,
        movement_iteration=run.movement_iteration,
        previous_response=texts.previous,
        user_inputs=texts.inputs,
        reports=texts.reports,
        report_dir=str(claimed.workspace / reports_folder(job)),
        working_dir=str(claimed.workspace),
        cycle_count=run.cycle_count or 0,
        notes=texts.notes,
        retry_note=texts.handoff,
        interactive=job.interactive,
        vars=claimed.piece.vars,
        state=claimed.state,
    )
