"""The worker side of agent turns: agent configs, toolboxes, traces, and the ToolHost.

`agents` may not import the database, so everything a tool does to a job (ask a
human, spawn a child, delegate) happens here, in short transactions of its own, and
every tool call and LLM call is written down as it happens (so a crash mid-turn
still leaves its traces).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update

from agents.runtime import LLMCall, Toolbox, ToolTrace, TurnResult
from agents.tools import ToolContext, ToolError, ToolLimits
from agents.workspace import Workspace
from app.catalog import load_for_job
from app.config import Settings
from app.db import db
from app.errors import ApiError
from app.jobs import Dispatch, send_all
from app.models import Agent, MovementRun
from app.subtasks import SubtaskRefused, agent_piece, spawn
from app.traces import LlmCallRow, ToolTraceRow
from app.transitions import lock_job, record_event
from swarm.specs import agent_queue

log = logging.getLogger(__name__)

# Tools that change the job itself; offered only where a pause can be honoured.
JOB_TOOLS = {"ask_human", "spawn_subtask"}

_git_locks: dict[str, threading.Lock] = {}
_git_guard = threading.Lock()


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
        # Names are unique per owner only: the queue carries a hash of both (swarm.specs).
        return agent_queue(self.name, owner=self.owner_id) if self.dedicated else self.tier


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


def _commit_quietly(what: str) -> None:
    try:
        db.session.commit()
    except Exception:  # bookkeeping must never break the turn it describes
        db.session.rollback()
        log.warning("could not record %s", what, exc_info=True)


@dataclass
class Recorder:
    """Writes each tool call and LLM call of one turn as it happens."""

    tier: str
    job_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    agent_task_id: uuid.UUID | None = None
    movement: str | None = None

    def trace(self, t: ToolTrace) -> None:
        db.session.add(
            ToolTraceRow(
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
        )
        if self.job_id is not None:
            record_event(
                self.job_id,
                "tool_call",
                movement=self.movement,
                tool=t.tool,
                outcome=t.outcome,
                latency_ms=t.latency_ms,
                error=t.error,
            )
        _commit_quietly("a tool trace")

    def llm_call(self, c: LLMCall) -> None:
        db.session.add(
            LlmCallRow(
                job_id=self.job_id,
                run_id=self.run_id,
                agent_task_id=self.agent_task_id,
                tier=self.tier,
                model=(c.model or "unknown")[:200],
                outcome=c.outcome,
                duration_ms=int(c.duration_s * 1000),
                tokens_in=c.tokens_in,
                tokens_out=c.tokens_out,
            )
        )
        _commit_quietly("an LLM call")


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
        except ApiError as exc:
            db.session.rollback()
            raise ToolError(f"cannot start subtask: {exc.message}") from None
        return self._spawn(title, instruction, loaded)

    def delegate(self, agent: str, message: str, mode: str) -> str:
        spec = load_agent(self.owner, agent)
        db.session.rollback()
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
            child, index, dispatches = spawn(self.job_id, title, instruction, piece)
            db.session.commit()
        except SubtaskRefused as exc:
            db.session.rollback()
            raise ToolError(f"refused: {exc}") from None
        except Exception:
            db.session.rollback()  # never leave a half-made child for the next commit
            raise
        send_all(dispatches)
        self.spawned.append(child.id)
        return (
            f"Subtask {index} started as job {child.id}. This movement runs again once every "
            f"subtask has ended; results will be in subtasks/{index}/result.md."
        )


def toolbox_for(
    settings: Settings,
    allowed: list[str],
    max_calls: int | None,
    *,
    workspace_dir,
    recorder: Recorder,
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
        on_trace=recorder.trace,
        should_stop=should_stop,
    )


def commit_workspace(workspace: Workspace, message: str) -> None:
    """Commit a movement's changes; one git at a time per workspace in this process."""
    with _git_guard:
        lock = _git_locks.setdefault(str(workspace.root), threading.Lock())
    with lock:
        try:
            workspace.commit(message)
        except Exception:  # another process held the index lock; the next movement commits
            log.warning("workspace commit %r in %s failed", message, workspace.root, exc_info=True)


def agent_queue_hop(
    job_id: uuid.UUID, run_id: uuid.UUID, movement: str, agent: AgentSpec
) -> Dispatch | None:
    """Move a pending run to its dedicated agent's queue `agent.<name>` (caller commits).

    start_movement queues runs by tier; a run whose movement names a dedicated agent
    is handed on from there. Only the queue column changes (the run stays pending), so
    the agent's worker claims it and the reconciler re-sends it there if a send is lost.
    """
    lock_job(job_id)
    moved = db.session.execute(
        update(MovementRun)
        .where(MovementRun.id == run_id, MovementRun.status == "pending")
        .values(tier=agent.queue)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        return None
    record_event(job_id, "movement_rerouted", movement=movement, queue=agent.queue)
    return Dispatch(run_id, job_id, movement, agent.queue)
