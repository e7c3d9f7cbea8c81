"""/api/agents: the agent registry, chat, agent tasks and chat memory.

Chat is synchronous for the caller but runs on the agent's queue: the API inserts an
agent task row, sends its id by task name (the web process never imports the
engine), and waits on the row, bounded by CHAT_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import logging
import time
import uuid

from flask import Blueprint, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.agent_schemas import (
    AgentCreate,
    AgentList,
    AgentOut,
    AgentUpdate,
    ChatIn,
    ChatOut,
    MemoryMessage,
    MemoryOut,
    MemoryQuery,
    TaskIn,
    TaskList,
    TaskListQuery,
    TaskOut,
)
from app.api.spec import spec
from app.auth import principal
from app.callbacks import checked_at_submit
from app.chat import AgentTask, ChatMessage, ChatSession
from app.config import Settings
from app.contract import AGENT_TURN, send
from app.db import db, utcnow, utcnow_plus
from app.errors import Conflict, NotFound, Unavailable, Unprocessable
from app.ledger import unit_of_work
from app.ledger.agent_tasks import fail_unqueued, insert_task
from app.models import Agent
from app.status import TASK_TERMINAL, TaskStatus
from swarm.specs import agent_queue

log = logging.getLogger(__name__)
bp = Blueprint("agents", __name__, url_prefix="/api/agents")
POLL_SECONDS = 0.1


def _settings() -> Settings:
    return current_app.extensions["legato.settings"]


def _queue(agent: Agent) -> str:
    return agent_queue(agent.name, owner=agent.owner_id) if agent.dedicated else agent.tier


def _out(agent: Agent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        name=agent.name,
        owner_id=agent.owner_id,
        tier=agent.tier,
        model=agent.model,
        system_prompt=agent.system_prompt,
        allowed_tools=list(agent.allowed_tools or []),
        max_tool_calls=agent.max_tool_calls,
        temperature=agent.temperature,
        dedicated=agent.dedicated,
        queue=_queue(agent),
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def _agent(name: str) -> Agent:
    agent = db.session.scalar(
        select(Agent).where(Agent.owner_id == principal().owner, Agent.name == name)
    )
    if agent is None:
        raise NotFound(f"no agent named {name!r}")
    return agent


def _check_tier(tier: str) -> None:
    tiers = _settings().tiers
    if tier not in tiers:
        raise Unprocessable(
            f"unknown tier {tier!r}", code="unknown_tier", details={"tiers": list(tiers)}
        )


def _send(task_id: uuid.UUID, queue: str) -> None:
    """Publish the turn (waking a scaled-to-zero service); a broker that refuses it is a
    503 and the task fails at once (nothing would ever run it)."""
    try:
        send(AGENT_TURN, str(task_id), queue=queue)
    except Exception as exc:
        log.warning("could not publish agent task %s to %s: %s", task_id, queue, exc)
        with unit_of_work() as work:
            fail_unqueued(work, task_id, "not queued: the broker was unavailable")
        raise Unavailable(
            "the broker is unavailable, so the agent turn was not queued; retry shortly",
            code="broker_unavailable",
            details={"task_id": str(task_id)},
        ) from None


@spec.route(
    bp,
    "",
    "POST",
    summary="Register an agent",
    body=AgentCreate,
    responses={201: AgentOut},
    errors=(409,),
)
def create_agent(body: AgentCreate):
    tier = body.tier or _settings().default_tier
    _check_tier(tier)
    agent = Agent(
        owner_id=principal().owner,
        name=body.name,
        tier=tier,
        model=body.model,
        system_prompt=body.system_prompt,
        allowed_tools=list(dict.fromkeys(body.allowed_tools or [])),
        max_tool_calls=body.max_tool_calls,
        temperature=body.temperature,
        dedicated=bool(body.dedicated),
    )
    db.session.add(agent)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"an agent named {body.name!r} already exists", code="exists") from None
    return _out(agent), 201


@spec.route(bp, "", "GET", summary="List your agents", responses={200: AgentList})
def list_agents():
    rows = db.session.scalars(
        select(Agent).where(Agent.owner_id == principal().owner).order_by(Agent.name)
    ).all()
    return AgentList(items=[_out(a) for a in rows])


@spec.route(bp, "/<name>", "GET", summary="Show an agent", responses={200: AgentOut}, errors=(404,))
def get_agent(name: str):
    return _out(_agent(name))


@spec.route(
    bp,
    "/<name>",
    "PATCH",
    summary="Change an agent (only the fields given)",
    body=AgentUpdate,
    responses={200: AgentOut},
    errors=(404,),
)
def update_agent(name: str, body: AgentUpdate):
    agent = _agent(name)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("tier") is not None:
        _check_tier(changes["tier"])
    for field, value in changes.items():
        if field in ("tier", "dedicated") and value is None:
            continue  # not nullable: null means "leave as is"
        if field == "allowed_tools":
            value = list(dict.fromkeys(value or []))
        setattr(agent, field, value)
    db.session.commit()
    db.session.refresh(agent)
    return _out(agent)


@spec.route(
    bp,
    "/<name>",
    "DELETE",
    summary="Delete an agent, its sessions and tasks",
    responses={204: None},
    errors=(404,),
)
def delete_agent(name: str):
    db.session.delete(_agent(name))
    db.session.commit()
    return "", 204


# -- chat ---------------------------------------------------------------------------


def _session(agent: Agent, session_id: uuid.UUID | None) -> tuple[ChatSession, bool]:
    """The caller's session (resumed if it had expired), or a new one."""
    settings = _settings()
    if session_id is None:
        session = ChatSession(agent_id=agent.id, owner_id=agent.owner_id, expired=False)
        session.resumed_count = 0
        db.session.add(session)
        db.session.flush()
        return session, False
    session = db.session.get(ChatSession, session_id)
    if session is None or session.agent_id != agent.id:
        raise NotFound(f"agent {agent.name!r} has no session {session_id}")
    idle = db.session.scalar(
        select(
            ChatSession.last_active_at < utcnow_plus(-settings.chat_session_ttl_minutes * 60)
        ).where(ChatSession.id == session.id)
    )
    resumed = bool(session.expired or idle)
    if resumed:
        session.expired = False
        session.resumed_count += 1
    return session, resumed


def _start_task(agent, kind: str, message: str, **fields) -> uuid.UUID:
    """Record a pending agent turn, commit it, then send it to the agent's queue.

    Everything the publish needs is read before the commit: on SQLite, reading an
    expired row after it would open a transaction (BEGIN IMMEDIATE) that holds the
    write lock, and the publish (Kombu's transport on the same file) would wait on us.
    """
    queue = _queue(agent)
    with unit_of_work() as work:  # also commits what the request added (the message)
        task_id = insert_task(
            work,
            agent_id=agent.id,
            owner_id=agent.owner_id,
            kind=kind,
            message=message,
            **fields,
        )
    _send(task_id, queue)
    return task_id


@spec.route(
    bp,
    "/<name>/chat",
    "POST",
    summary="Chat with an agent (waits for the reply)",
    body=ChatIn,
    responses={200: ChatOut},
    errors=(404, 429),
)
def chat(name: str, body: ChatIn):
    settings = _settings()
    agent = _agent(name)
    session, resumed = _session(agent, body.session_id)
    session.last_active_at = utcnow()
    db.session.add(ChatMessage(session_id=session.id, role="user", content=body.message))
    session_id, queue = session.id, _queue(agent)
    task_id = _start_task(agent, "chat", body.message, session_id=session_id)
    done = _wait(task_id, settings.chat_timeout_seconds)
    if done is None:
        raise Unavailable(
            f"agent {name!r} did not answer within {settings.chat_timeout_seconds:g}s "
            f"(is a worker consuming {queue!r}?)",
            details={"task_id": str(task_id)},
        )
    if done.status == TaskStatus.FAILED:
        raise Unavailable(done.error or "the agent failed", details={"task_id": str(task_id)})
    return ChatOut(
        reply=done.reply or "",
        session_id=session_id,
        task_id=task_id,
        resumed=resumed,
        tokens_in=done.tokens_in,
        tokens_out=done.tokens_out,
    )


def _wait(task_id: uuid.UUID, timeout: float) -> AgentTask | None:
    deadline = time.monotonic() + timeout
    while True:
        task = db.session.get(AgentTask, task_id, populate_existing=True)
        if task.status in TASK_TERMINAL:
            return task
        db.session.rollback()  # hold no transaction (or snapshot) while waiting
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_SECONDS)


@spec.route(
    bp,
    "/<name>/memory",
    "GET",
    summary="The chat window the agent sees for a session",
    query=MemoryQuery,
    responses={200: MemoryOut},
    errors=(404,),
)
def memory(name: str, query: MemoryQuery):
    agent = _agent(name)
    session = db.session.get(ChatSession, query.session_id)
    if session is None or session.agent_id != agent.id:
        raise NotFound(f"agent {name!r} has no session {query.session_id}")
    window = _settings().chat_memory_messages
    rows = db.session.scalars(
        select(ChatMessage)
        .where(ChatMessage.session_id == session.id)
        .order_by(ChatMessage.id.desc())
        .limit(window)
    ).all()
    return MemoryOut(
        session_id=session.id,
        expired=session.expired,
        window=window,
        messages=[
            MemoryMessage(role=m.role, content=m.content, created_at=m.created_at)
            for m in reversed(rows)
        ],
    )


# -- tasks ----------------------------------------------------------------------------


def _task_out(task: AgentTask, agent_name: str) -> TaskOut:
    return TaskOut(
        id=task.id,
        agent=agent_name,
        kind=task.kind,
        status=task.status,
        message=task.message,
        reply=task.reply,
        error=task.error,
        callback_url=task.callback_url,
        callback_status=task.callback_status,
        tokens_in=task.tokens_in,
        tokens_out=task.tokens_out,
        created_at=task.created_at,
        finished_at=task.finished_at,
    )


@spec.route(
    bp,
    "/<name>/tasks",
    "POST",
    summary="Give an agent a task; returns at once",
    body=TaskIn,
    responses={202: TaskOut},
    errors=(404, 429),
)
def create_task(name: str, body: TaskIn):
    agent = _agent(name)
    agent_name = agent.name
    callback = body.callback_url
    if callback:
        callback = checked_at_submit(callback, _settings().callback_allow_hosts)
    task_id = _start_task(agent, "task", body.message, callback_url=callback)
    return _task_out(db.session.get(AgentTask, task_id), agent_name), 202


@spec.route(
    bp,
    "/<name>/tasks",
    "GET",
    summary="An agent's tasks, newest first",
    query=TaskListQuery,
    responses={200: TaskList},
    errors=(404,),
)
def list_tasks(name: str, query: TaskListQuery):
    agent = _agent(name)
    rows = db.session.scalars(
        select(AgentTask)
        .where(AgentTask.agent_id == agent.id, AgentTask.kind == "task")
        .order_by(AgentTask.created_at.desc())
        .limit(query.limit)
    ).all()
    return TaskList(items=[_task_out(t, agent.name) for t in rows])


@spec.route(
    bp,
    "/<name>/tasks/<uuid:task_id>",
    "GET",
    summary="One agent task",
    responses={200: TaskOut},
    errors=(404,),
)
def get_task(name: str, task_id: uuid.UUID):
    agent = _agent(name)
    task = db.session.get(AgentTask, task_id)
    if task is None or task.agent_id != agent.id:
        raise NotFound(f"agent {name!r} has no task {task_id}")
    return _task_out(task, agent.name)
