"""Agent chat turns and agent tasks as Celery tasks, and the session-expiry sweep.

The API inserts an `agent_tasks` row (`pending`) and sends its id to the agent's
queue (its own for a dedicated agent, else its tier). Here the row is claimed with a
lease, as a movement run is (app.ledger.agent_tasks; a redelivered message finds it
taken and drops itself), the agent's turn runs with its prompt, model and tools while
the process's lease renewer keeps the claim alive, and the reply lands on the row (and,
for chat, in the session's history) only while the lease is still held. A worker that
dies mid-turn leaves an expired lease: the recovery sweep hands the turn back to its
queue. The chat endpoint is waiting on that row.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from flask import current_app
from sqlalchemy import select, update

from agents.llm import LLMError
from agents.runtime import TurnCancelled, TurnResult, run_turn
from app.callbacks import CallbackFailed, CallbackRefused, deliver
from app.chat import AgentTask, ChatMessage, ChatSession
from app.config import Settings
from app.contract import AGENT_TURN, EXPIRE_SESSIONS
from app.db import db, utcnow_plus
from app.ledger import end_read, unit_of_work
from app.ledger.agent_tasks import claim_task, finish_task, set_callback_status
from app.models import Agent
from app.status import TaskStatus
from tasks.agent_host import AgentSpec, Recorder, load_agent, toolbox_for
from tasks.celery_app import celery_app
from tasks.engine.calls import _models, llm_client
from tasks.engine.leases import TASK, leases
from tasks.llm_profiles import profile_for

log = logging.getLogger(__name__)


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def agent_reply(
    agent: AgentSpec,
    message: str,
    *,
    history: list[dict] | None = None,
    task_id: uuid.UUID | None = None,
    recorder: Recorder | None = None,
    should_stop=None,
) -> TurnResult:
    """One turn of `agent` on `message`, with its prompt, model, tools and workspace."""
    settings = _settings()
    profile = profile_for(settings, agent.tier)
    if agent.model and not profile.is_demo:
        model, warning = _models.resolve(llm_client(), profile, agent.model)
        if warning:
            log.warning("agent %s: %s", agent.name, warning)
        profile = replace(profile, model=model)
    recorder = recorder or Recorder(
        agent.tier, agent_task_id=task_id, movement=f"agent:{agent.name}"
    )
    toolbox = toolbox_for(
        settings,
        list(agent.allowed_tools),
        agent.max_tool_calls,
        workspace_dir=settings.workspaces_dir / "agents" / str(agent.id),
        on_trace=recorder.trace,
        host=None,  # job-level tools (ask_human, spawn, delegate) need a job
        should_stop=should_stop,
    )
    return run_turn(
        llm_client(),
        profile,
        message,
        system=agent.system_prompt,
        history=history,
        headers={"X-Legato-Agent": agent.name},
        on_llm_call=recorder.llm_call,
        toolbox=toolbox,
        temperature=agent.temperature,
    )


def session_history(session_id: uuid.UUID, limit: int, before_id: int | None = None) -> list[dict]:
    """The sliding window the agent sees: the last `limit` messages, oldest first."""
    stmt = select(ChatMessage).where(ChatMessage.session_id == session_id)
    if before_id is not None:
        stmt = stmt.where(ChatMessage.id < before_id)
    rows = db.session.scalars(stmt.order_by(ChatMessage.id.desc()).limit(limit)).all()
    return [{"role": m.role, "content": m.content} for m in reversed(rows)]


@celery_app.task(name=AGENT_TURN)
def run_agent_task(task_id: str) -> str:
    try:
        tid = uuid.UUID(task_id)
    except (ValueError, TypeError):
        return "invalid"
    settings = _settings()
    owner = f"{run_agent_task.request.hostname}/{run_agent_task.request.id}"
    with unit_of_work() as work:
        task = claim_task(work, tid, owner, settings.movement_lease_seconds)
        if task is None:
            work.discard()  # a redelivered duplicate, or already handed on: drop it
            return "skipped"
        agent_row = work.conn.execute(
            select(Agent.owner_id, Agent.name).where(Agent.id == task.agent_id)
        ).first()
        history = _history(task, settings) if task.session_id is not None else []
    agent = load_agent(agent_row.owner_id, agent_row.name)
    end_read()
    registry = leases(current_app._get_current_object(), settings.movement_lease_seconds)
    held = registry.hold(tid, owner, TASK)
    try:
        try:
            turn = agent_reply(
                agent, task.message, history=history, task_id=tid, should_stop=held.lost.is_set
            )
        except TurnCancelled:
            log.info("agent task %s: lease lost; its reply is discarded", tid)
            return "lost"
        except LLMError as exc:
            outcome = _finish(tid, owner, TaskStatus.FAILED, error=f"LLM call failed: {exc}")
        else:
            outcome = _finish(tid, owner, TaskStatus.SUCCEEDED, turn=turn)
    finally:
        registry.release(held)
    if outcome != "lost":
        _callback(tid, task.callback_url)
    return outcome


def _history(task, settings: Settings) -> list[dict]:
    last_user = db.session.scalar(
        select(ChatMessage.id)
        .where(ChatMessage.session_id == task.session_id, ChatMessage.role == "user")
        .order_by(ChatMessage.id.desc())
        .limit(1)
    )
    # The window includes this message, so the history is one shorter.
    limit = max(settings.chat_memory_messages - 1, 0)
    return session_history(task.session_id, limit, before_id=last_user) if limit else []


def _finish(
    tid: uuid.UUID,
    owner: str,
    status: TaskStatus,
    *,
    turn: TurnResult | None = None,
    error: str | None = None,
) -> str:
    with unit_of_work() as work:
        done = finish_task(
            work,
            tid,
            owner,
            status,
            reply=turn.content if turn else None,
            error=error,
            tokens=(turn.tokens_in, turn.tokens_out) if turn else (0, 0),
        )
        if not done:
            work.discard()
    return status.value if done else "lost"


def _callback(tid: uuid.UUID, url: str | None) -> None:
    """POST the result, signed and retried with backoff (app.callbacks)."""
    if not url:
        return
    settings = _settings()
    task = db.session.get(AgentTask, tid, populate_existing=True)
    payload = {
        "task_id": str(task.id),
        "agent_id": str(task.agent_id),
        "status": task.status,
        "reply": task.reply,
        "error": task.error,
        "tokens_in": task.tokens_in,
        "tokens_out": task.tokens_out,
        "finished_at": task.finished_at.isoformat() if task.finished_at else None,
    }
    end_read()
    try:
        code = deliver(
            url,
            payload,
            secret=settings.callback_secret,
            allow_hosts=settings.callback_allow_hosts,
            timeout=settings.callback_timeout,
            tries=settings.callback_max_attempts,
            event="agent_task.ended",
        )
        outcome = f"delivered (HTTP {code})"
    except (CallbackFailed, CallbackRefused) as exc:
        outcome = f"failed: {exc}"
    with unit_of_work() as work:
        set_callback_status(work, tid, outcome)


@celery_app.task(name=EXPIRE_SESSIONS)
def expire_sessions() -> int:
    """Mark sessions idle past CHAT_SESSION_TTL_MINUTES expired (a resumable state)."""
    ttl = _settings().chat_session_ttl_minutes * 60
    count = db.session.execute(
        update(ChatSession)
        .where(ChatSession.expired.is_(False), ChatSession.last_active_at < utcnow_plus(-ttl))
        .values(expired=True)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return count
