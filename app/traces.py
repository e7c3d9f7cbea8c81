"""Tool traces and LLM call records: what each agent turn did, call by call.

They feed `GET /api/jobs/{id}/traces`, token accounting per call, and the metrics
endpoint, which aggregates them from the database so every worker's calls count
without scraping each worker.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db import db, utcnow
from app.models import EventId


class ToolTraceRow(db.Model):
    __tablename__ = "tool_traces"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE")
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("movement_runs.id", ondelete="CASCADE")
    )
    # Set instead of job_id for chat turns and agent tasks.
    agent_task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    movement: Mapped[str | None] = mapped_column(String(200))
    tool: Mapped[str] = mapped_column(String(100), nullable=False)
    call_id: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[Any] = mapped_column(JSON, nullable=True)
    output: Mapped[str] = mapped_column(Text, nullable=False, default="")
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utcnow(), nullable=False
    )

    __table_args__ = (
        Index("ix_tool_traces_job_id", "job_id", "id"),
        Index("ix_tool_traces_agent_task", "agent_task_id"),
    )


class LlmCallRow(db.Model):
    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE")
    )
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("movement_runs.id", ondelete="CASCADE")
    )
    agent_task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    tier: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utcnow(), nullable=False
    )

    __table_args__ = (Index("ix_llm_calls_job_id", "job_id"),)
