"""/api/jobs/{id}/piece and /api/jobs/{id}/runs/{run_id}: what the console draws.

The piece comes from the job's stored snapshot (what the job actually runs, not the
file as it is today). A run comes with its full prompt and answer, the reports it
wrote, its tool calls and its LLM calls; `phases` is filled from the phase records
where the engine keeps them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.agent_schemas import TraceOut
from app.api.jobs import visible_job
from app.api.spec import spec
from app.auth import principal
from app.db import db
from app.errors import NotFound
from app.ledger import REPORT
from app.models import JobArtifact, MovementRun, RunPhase
from app.piece_graph import piece_graph
from app.schemas import MovementRunOut, PhaseDetail
from app.traces import LlmCallRow, ToolTraceRow
from pieces import Piece

bp = Blueprint("job_views", __name__, url_prefix="/api/jobs")


class GraphNode(BaseModel):
    name: str
    kind: str = Field(description="movement | parallel | workflow_call | system")
    members: list[str]
    description: str | None


class GraphEdge(BaseModel):
    model_config = {"populate_by_name": True}

    source: str = Field(alias="from", serialization_alias="from")
    to: str = Field(description="A movement, or COMPLETE / ABORT.")
    label: str


class PieceGraph(BaseModel):
    name: str
    format: str
    initial: str
    description: str | None = None
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class RunReport(BaseModel):
    name: str
    content: str
    created_at: datetime


class LlmCallOut(BaseModel):
    tier: str
    model: str
    outcome: str
    duration_ms: int
    tokens_in: int
    tokens_out: int
    created_at: datetime


class RunDetail(MovementRunOut):
    prompt: str | None
    phases: list[PhaseDetail] = Field(
        description="Phase records (execute, report, judge) with prompt, system and answer."
    )
    reports: list[RunReport]
    traces: list[TraceOut]
    llm_calls: list[LlmCallOut]


def graph_of_snapshot(snapshot: dict[str, Any]) -> PieceGraph:
    return PieceGraph.model_validate(piece_graph(Piece.model_validate(snapshot)))


@spec.route(
    bp,
    "/<uuid:job_id>/piece",
    "GET",
    summary="The job's piece as a graph of movements and rule edges",
    responses={200: PieceGraph},
    errors=(404,),
)
def job_piece(job_id: uuid.UUID):
    """The piece the job runs (its stored snapshot), as nodes and edges.

    Nodes are the top-level movements (a parallel movement lists its members); each
    edge is a rule, labelled with its condition; `to` may be COMPLETE or ABORT."""
    job = visible_job(job_id, principal())
    return _dump(graph_of_snapshot(job.piece_snapshot))


@spec.route(
    bp,
    "/<uuid:job_id>/runs/<uuid:run_id>",
    "GET",
    summary="One movement run with its prompt, answer, phases, reports and tool calls",
    responses={200: RunDetail},
    errors=(404,),
)
def job_run(job_id: uuid.UUID, run_id: uuid.UUID):
    """Everything one movement run did: its prompt and answer, the phases with their
    prompts and answers, the reports it wrote, its tool calls and its model calls."""
    job = visible_job(job_id, principal())
    run = db.session.get(MovementRun, run_id)
    if run is None or run.job_id != job.id:
        raise NotFound(f"job {job_id} has no run {run_id}")
    reports = db.session.scalars(
        select(JobArtifact)
        .where(JobArtifact.movement_run_id == run.id, JobArtifact.kind == REPORT)
        .order_by(JobArtifact.created_at)
    ).all()
    traces = db.session.scalars(
        select(ToolTraceRow).where(ToolTraceRow.run_id == run.id).order_by(ToolTraceRow.id)
    ).all()
    calls = db.session.scalars(
        select(LlmCallRow).where(LlmCallRow.run_id == run.id).order_by(LlmCallRow.id)
    ).all()
    phases = [
        PhaseDetail.model_validate(p, from_attributes=True)
        for p in db.session.scalars(
            select(RunPhase).where(RunPhase.run_id == run.id).order_by(RunPhase.seq)
        )
    ]
    out = MovementRunOut.model_validate(run, from_attributes=True).model_dump(exclude={"phases"})
    execute = next((p for p in phases if p.phase == 1), None)
    return RunDetail(
        **out,
        prompt=execute.prompt if execute else run.prompt,
        phases=phases,
        reports=[
            RunReport(name=a.name, content=a.content, created_at=a.created_at) for a in reports
        ],
        traces=[TraceOut.model_validate(t, from_attributes=True) for t in traces],
        llm_calls=[LlmCallOut.model_validate(c, from_attributes=True) for c in calls],
    )


def _dump(graph: PieceGraph):
    from flask import jsonify

    return jsonify(graph.model_dump(mode="json", by_alias=True))
