"""Tables. Job, run, agent-task and event state is written only by `app.ledger` (DESIGN.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import db, utcnow

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for event logs.
EventId = BigInteger().with_variant(Integer(), "sqlite")


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=utcnow(), nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), server_default=utcnow(), onupdate=utcnow(), nullable=False
    )


class Job(db.Model):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(128), nullable=False)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="private")
    tier: Mapped[str] = mapped_column(String(64), nullable=False)
    piece_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The resolved piece as validated at submission; workers run this, never the files.
    piece_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    instruction: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="queued")
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    next_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_summary: Mapped[str | None] = mapped_column(Text)
    abort_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    current_movement: Mapped[str | None] = mapped_column(String(200))
    current_activity: Mapped[str | None] = mapped_column(String(500))
    parent_job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL")
    )
    subtask_depth: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    task_kind: Mapped[str] = mapped_column(String(32), nullable=False, default="piece")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    tokens_in: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # POSTed (signed) when the job ends; see app/callbacks.py.
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    # Submitted as interactive: rules marked interactive_only are offered to its judges.
    interactive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Engine-owned (never from the API): a child job's folder, relative to WORKSPACE_ROOT,
    # and its number among its parent's subtasks. None: the job's own folder.
    workspace: Mapped[str | None] = mapped_column(String(1000))
    subtask_index: Mapped[int | None] = mapped_column(Integer)
    # Engine-owned, workflow calls (app/calls.py): the workflow_call run that started
    # this job (unique: one child per calling run), the label a `return:` rule ended it
    # with, why it aborted in TAKT's terms (step_transition, iteration_limit,
    # rule_no_match, runtime_error, interrupt), and its reports folder relative to
    # its workspace (None: `reports`).
    call_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    returned: Mapped[str | None] = mapped_column(String(200))
    abort_kind: Mapped[str | None] = mapped_column(String(40))
    reports_path: Mapped[str | None] = mapped_column(String(1000))
    # Engine-owned, system steps (app/effects.py): the run whose enqueue_task effect
    # submitted this job (unique: one job per effect run).
    effect_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated()

    runs: Mapped[list[MovementRun]] = relationship(
        back_populates="job",
        order_by="(MovementRun.attempt, MovementRun.iteration, MovementRun.created_at)",
        lazy="raise_on_sql",
    )

    __table_args__ = (
        # owner listings, newest first; status/piece filters ride on the same prefix
        Index("ix_jobs_owner_created", "owner_id", "created_at"),
        Index("ix_jobs_status_created", "status", "created_at"),
        # dispatch_retries: WHERE status = 'retry' AND next_retry_at <= now
        Index("ix_jobs_status_next_retry", "status", "next_retry_at"),
        Index("ix_jobs_parent", "parent_job_id"),
        UniqueConstraint("call_run_id", name="uq_jobs_call_run_id"),
        UniqueConstraint("effect_run_id", name="uq_jobs_effect_run_id"),
    )


class MovementRun(db.Model):
    __tablename__ = "movement_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # agent | parallel | team_leader | part | loop_judge: how the engine runs it.
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default="agent")
    # Sub-movements of a parallel movement (and a team leader's parts) point at the parent.
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("movement_runs.id", ondelete="CASCADE")
    )
    iteration: Mapped[int] = mapped_column(Integer, nullable=False)
    movement_iteration: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending")
    tier: Mapped[str] = mapped_column(String(64), nullable=False)
    prompt: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    matched_rule: Mapped[int | None] = mapped_column(Integer)  # 0-based rule index
    matched_condition: Mapped[str | None] = mapped_column(Text)
    match_method: Mapped[str | None] = mapped_column(String(32))
    next: Mapped[str | None] = mapped_column(String(200))
    # What came after the run: movement, complete, abort, wait_input, wait_answer, loop_judge.
    route: Mapped[str | None] = mapped_column(String(32))
    # A loop judge's run: which monitor fired, after how many cycles, and what the
    # cycle's last movement had chosen before the judge stepped in.
    loop_monitor: Mapped[int | None] = mapped_column(Integer)
    cycle_count: Mapped[int | None] = mapped_column(Integer)
    natural_next: Mapped[str | None] = mapped_column(String(200))
    # A team leader's part: its definition ({id, title, instruction, timeout_ms}).
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Workflow dialect: what the run added to the workflow state when it completed
    # ({"structured": …} or {"context": …, "effect": …}); later claims read it back.
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # delay_before_ms: not to be claimed before this time (database clock).
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The workspace commit made when the run completed: what a replay restores.
    workspace_commit: Mapped[str | None] = mapped_column(String(64))
    # Replayed attempts start with copies of the runs before the replayed movement.
    copied_from: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # How often a worker claimed the run (a waiting parent is claimed once per wake-up).
    visits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _updated()

    job: Mapped[Job] = relationship(back_populates="runs", lazy="raise_on_sql")

    __table_args__ = (
        Index("ix_movement_runs_job_attempt", "job_id", "attempt", "iteration"),
        # recover_stuck: WHERE status = 'running' AND lease_expires_at < now
        Index("ix_movement_runs_status_lease", "status", "lease_expires_at"),
        # reconcile: WHERE status = 'pending' AND created_at < now - threshold
        Index("ix_movement_runs_status_created", "status", "created_at"),
        Index("ix_movement_runs_parent", "parent_run_id"),
    )


class RunPhase(db.Model):
    """One model exchange of a movement run: the checkpoint a redelivery resumes from.

    Phase 1 is the agent with its tools, 2 one report file, 3 a judgment stage. Phases
    that belong to a conversation carry its key; `resets` starts that conversation over.
    """

    __tablename__ = "run_phases"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("movement_runs.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    phase: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str | None] = mapped_column(String(500))
    session_key: Mapped[str | None] = mapped_column(String(500))
    resets: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    system: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    structured: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    match_method: Mapped[str | None] = mapped_column(String(32))
    matched_rule: Mapped[int | None] = mapped_column(Integer)  # 1-based, as tags count
    tokens_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    model: Mapped[str | None] = mapped_column(String(200))
    tool_calls: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        UniqueConstraint("run_id", "seq"),
        # A conversation: this attempt's phases under one session key, newest first.
        Index("ix_run_phases_conversation", "job_id", "attempt", "session_key", "id"),
    )


class JobEvent(db.Model):
    """Append-only progress log; the id orders events (and is the SSE event id)."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = _created()

    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    # sha256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # None: never expires. Past it the token is refused (401) like a revoked one.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_api_tokens_owner", "owner_id"),)


class Agent(db.Model):
    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    tier: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str | None] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    allowed_tools: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    max_tool_calls: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    dedicated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    __table_args__ = (UniqueConstraint("owner_id", "name"),)


# What a job artifact is: a report a movement wrote, a user input, or the handoff a
# failed attempt leaves for the next one.
REPORT, INPUT, HANDOFF = "report", "input", "handoff"


class JobArtifact(db.Model):
    """Text a job produced or received: reports, user inputs, retry handoffs."""

    __tablename__ = "job_artifacts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    movement_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("movement_runs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()

    __table_args__ = (Index("ix_job_artifacts_job_kind", "job_id", "kind", "created_at"),)


class WorkerHeartbeat(db.Model):
    """One row per live worker process, refreshed by tasks/heartbeat.py.

    The workers page reads these rather than broadcasting to the broker, so it works on
    every broker (the embedded SQLAlchemy transport has no remote control).
    """

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer, primary_key=True)
    queues: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    concurrency: Mapped[int | None] = mapped_column(Integer)
    in_flight: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utcnow(), nullable=False
    )

    __table_args__ = (Index("ix_worker_heartbeats_last_seen", "last_seen_at"),)
