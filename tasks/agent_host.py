"""The worker side of agent turns: agent configs, toolboxes, traces, and the ToolHost.

`agents` may not import the database, so everything a tool does to a job (ask a
human, spawn a child, delegate) happens here, in short transactions of its own, and
every tool call and LLM call is written down as it happens (so a crash mid-turn
still leaves its traces).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from agents.runtime import LLMCall, Toolbox, ToolTrace, TurnResult
from agents.tools import ToolContext, ToolError, ToolLimits
from agents.workspace import Workspace
from app.catalog import PieceUnavailable, load_for_job
from app.config import Settings
from app.db import db
from app.ledger import end_read, unit_of_work
from app.ledger.traces import llm_call_row, record_tool_trace
from app.models import Agent
from app.subtasks import SubtaskRefused, agent_piece, spawn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent, detached from the session."""

    id: uuid.UUID
    name: str
    owner_id: str
    tier: str
    model: str | None
    system_prompt: str | None
    allowed_tools: tuple[str, ...]
    max_tool_calls: int | None
    temperature: float | None
    dedicated: bool

    @property
    def queue(self) -> str:
        return f"agent.{self.name}" if self.dedicated else self.tier


def load_agent(owner: str, name: str) -> AgentSpec | None:
    row = db.session.scalar(select(Agent).where(Agent.owner_id == owner, Agent.name == name))
    if row is None:
        return None
    return AgentSpec(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        tier=row.tier,
        model=row.model,
        system_prompt=row.system_prompt,
        allowed_tools=tuple(row.allowed_tools or ()),
        max_tool_calls=row.max_tool_calls,
        temperature=row.temperature,
        dedicated=row.dedicated,
    )


def limits_from(settings: Settings) -> ToolLimits:
    return ToolLimits(
        output_cap=settings.tool_output_cap,
        allow_shell=settings.tools_allow_shell,
        shell_timeout=settings.shell_timeout,
        webfetch_max_bytes=settings.webfetch_max_bytes,
        webfetch_timeout=settings.webfetch_timeout,
        webfetch_allow=settings.webfetch_allow,
    )


@dataclass
class Recorder:
    """Writes each tool call of an agent turn as it happens and keeps its LLM calls, so
    a crash mid-turn still leaves its traces (the calls land with the turn's result)."""

    tier: str
    job_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    agent_task_id: uuid.UUID | None = None
    movement: str | None = None
    calls: list[dict] = field(default_factory=list)

    def trace(self, t: ToolTrace) -> None:
        try:
            with unit_of_work() as work:
                record_tool_trace(
                    work,
                    job_id=self.job_id,
                    run_id=self.run_id,
                    agent_task_id=self.agent_task_id,
                    movement=self.movement,
                    tool=t.tool[:100],
                    call_id=t.call_id[:200] or None,
                    input=t.input,
                    output=t.output,
                    latency_ms=t.latency_ms,
                    outcome=t.outcome,
                    error=t.error,
                )
        except Exception:  # bookkeeping must never break the turn it describes
            log.warning("could not record a tool trace", exc_info=True)

    def llm_call(self, c: LLMCall) -> None:
        self.calls.append(
            llm_call_row(
                tier=self.tier,
                model=c.model,
                outcome=c.outcome,
                duration_s=c.duration_s,
                tokens_in=c.tokens_in,
                tokens_out=c.tokens_out,
                job_id=self.job_id,
                run_id=self.run_id,
                agent_task_id=self.agent_task_id,
            )
        )


@dataclass
class JobToolHost:
    """ToolHost for one movement run: remembers the pauses its tools asked for."""

    settings: Settings
    job_id: uuid.UUID
    owner: str
    in_parallel: bool
    delegate_sync: Callable[[AgentSpec, str, Recorder], TurnResult]
    run_id: uuid.UUID | None = None
    questions: list[str] = field(default_factory=list)
    spawned: list[uuid.UUID] = field(default_factory=list)
    # Turns run for delegate_to_agent(sync); their tokens count towards this run.
    delegated: list[TurnResult] = field(default_factory=list)

    def ask_human(self, question: str) -> str:
        if self.in_parallel:
            raise ToolError("ask_human is not available inside a parallel sub-movement")
        self.questions.append(question)
        return (
            "Question recorded. The job pauses when this movement ends and this movement "
            "runs again with the answer in the user inputs. Finish your turn now."
        )

    def spawn_subtask(self, title: str, instruction: str, piece: str | None) -> str:
        try:
            loaded = load_for_job(self.owner, piece or self.settings.default_piece, self.settings)
        except PieceUnavailable as exc:
            end_read()
            raise ToolError(f"cannot start subtask: {exc}") from None
        return self._spawn(title, instruction, loaded)

    def delegate(self, agent: str, message: str, mode: str) -> str:
        spec = load_agent(self.owner, agent)
        end_read()
        if spec is None:
            raise ToolError(f"no agent named {agent!r} is registered")
        if mode == "sync":
            recorder = Recorder(
                spec.tier, job_id=self.job_id, run_id=self.run_id, movement=f"agent:{spec.name}"
            )
            turn = self.delegate_sync(spec, message, recorder)
            self.delegated.append(turn)
            return turn.content
        return self._spawn(f"delegated to {agent}", message, agent_piece(agent))

    def _spawn(self, title: str, instruction: str, piece) -> str:
        if self.in_parallel:
            raise ToolError("subtasks cannot be started inside a parallel sub-movement")
        try:
            with unit_of_work(self.job_id) as work:
                child_id, index = spawn(work, self.job_id, title, instruction, piece)
        except SubtaskRefused as exc:
            raise ToolError(f"refused: {exc}") from None
        self.spawned.append(child_id)
        return (
            f"Subtask {index} started as job {child_id}. This movement runs again once every "
            f"subtask has ended; results will be in subtasks/{index}/result.md."
        )


def toolbox_for(
    settings: Settings,
    allowed: list[str],
    max_calls: int | None,
    *,
    workspace_dir,
    on_trace: Callable[[ToolTrace], None],
    host,
    should_stop: Callable[[], bool] | None,
    git: bool = True,
) -> Toolbox | None:
    """A Toolbox, or None when nothing is allowed (then the turn is one completion)."""
    if not allowed:
        return None
    workspace = Workspace.open(workspace_dir, git=git)
    return Toolbox(
        allowed=list(allowed),
        context=ToolContext(workspace=workspace, limits=limits_from(settings), host=host),
        max_calls=settings.max_tool_calls if max_calls is None else max_calls,
        output_cap=settings.tool_output_cap,
        on_trace=on_trace,
        should_stop=should_stop,
    )
