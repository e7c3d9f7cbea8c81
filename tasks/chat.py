"""Agent chat turns and agent tasks as Celery tasks, and the session-expiry sweep.

The API inserts an `agent_tasks` row (`pending`) and sends its id to the agent's
queue (`agent.<name>` for a dedicated agent, else its tier). Here the row is claimed
with a guarded UPDATE (a redelivered message finds it taken and drops itself), the
agent's turn runs with its prompt, model and tools, and the reply lands on the row
(and, for chat, in the session's history). The chat endpoint is waiting on that row.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from flask import current_app
from sqlalchemy import select, update

from agents.llm import LLMError
from agents.runtime import TurnResult, run_turn
from app.callbacks import CallbackFailed, CallbackRefused, deliver
from app.chat import (
    TASK_FAILED,
    TASK_PENDING,
    TASK_RUNNING,
    TASK_SUCCEEDED,
    AgentTask,
    ChatMessage,
    ChatSession,
)
from app.config import Settings
from app.contract import AGENT_TURN, EXPIRE_SESSIONS
from app.db import db, utcnow, utcnow_plus
from app.models import Agent
from tasks.agent_host import AgentSpec, Recorder, load_agent, toolbox_for
from tasks.celery_app import celery_app
from tasks.engine.calls import _models, llm_client
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
        should_stop=None,
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
    claimed = db.session.execute(
        update(AgentTask)
        .where(AgentTask.id == tid, AgentTask.status == TASK_PENDING)
        .values(status=TASK_RUNNING)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    task = db.session.get(AgentTask, tid)
    row = db.session.get(Agent, task.agent_id)
    agent = load_agent(row.owner_id, row.name)
    history: list[dict] = []
    if task.session_id is not None:
        last_user = db.session.scalar(
            select(ChatMessage.id)
            .where(ChatMessage.session_id == task.session_id, ChatMessage.role == "user")
            .order_by(ChatMessage.id.desc())
            .limit(1)
        )
        # The window includes this message, so the history is one shorter.
        limit = max(_settings().chat_memory_messages - 1, 0)
        history = session_history(task.session_id, limit, before_id=last_user) if limit else []
    message, session_id, callback = task.message, task.session_id, task.callback_url
    db.session.rollback()
    try:
        turn = agent_reply(agent, message, history=history, task_id=tid)
    except LLMError as exc:
        _finish(tid, TASK_FAILED, error=f"LLM call failed: {exc}")
        _callback(tid, callback)
        return "failed"
    _finish(tid, TASK_SUCCEEDED, turn=turn, session_id=session_id)
    _callback(tid, callback)
    return "succeeded"


def _finish(
    tid: uuid.UUID,
    status: str,
    *,
    turn: TurnResult | None = None,
    error: str | None = None,
    session_id: uuid.UUID | None = None,
) -> None:
    values = {"status": status, "finished_at": utcnow(), "error": error}
    if turn is not None:
        values |= {
            "reply": turn.content,
            "tokens_in": turn.tokens_in,
            "tokens_out": turn.tokens_out,
        }
    done = db.session.execute(
        update(AgentTask)
        .where(AgentTask.id == tid, AgentTask.status == TASK_RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done and turn is not None and session_id is not None:
        db.session.add(ChatMessage(session_id=session_id, role="assistant", content=turn.content))
        db.session.execute(
            update(ChatSession)
            .where(ChatSession.id == session_id)
            .values(last_active_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    db.session.commit()


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
    db.session.rollback()
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
        outcome = f"failed: {exc}"[:200]
    db.session.execute(
        update(AgentTask)
        .where(AgentTask.id == tid)
        .values(callback_status=outcome)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


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
