"""Tool traces and LLM call records, written with the unit of work they belong to."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert

from app.ledger.work import Work
from app.traces import LlmCallRow, ToolTraceRow

_traces, _calls = ToolTraceRow.__table__, LlmCallRow.__table__
_INSERT_CALLS = insert(_calls)


def record_tool_trace(w: Work, **row: Any) -> None:
    w.conn.execute(insert(_traces).values(**row))
    if row.get("job_id") is not None:
        w.event(
            "tool_call",
            row["job_id"],
            movement=row.get("movement"),
            tool=row.get("tool"),
            outcome=row.get("outcome"),
            latency_ms=row.get("latency_ms"),
            error=row.get("error"),
        )


def record_llm_calls(w: Work, rows: list[dict[str, Any]]) -> None:
    if rows:
        w.conn.execute(_INSERT_CALLS, rows)


def llm_call_row(
    *,
    tier: str,
    model: str,
    outcome: str,
    duration_s: float,
    tokens_in: int = 0,
    tokens_out: int = 0,
    job_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    agent_task_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "run_id": run_id,
        "agent_task_id": agent_task_id,
        "tier": tier,
        "model": (model or "unknown")[:200],
        "outcome": outcome,
        "duration_ms": int(duration_s * 1000),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
    }
