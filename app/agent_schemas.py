"""Request and response models of the agent registry, chat, tasks, traces and answers."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.schemas import Body, Query, UtcDateTime, _no_nul

AGENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# The tool names agents.tools registers; app must not import the engine side, and
# tests/unit/agents/test_tool_names.py keeps the two lists equal.
TOOL_NAMES = (
    "Read",
    "Write",
    "Edit",
    "Glob",
    "Grep",
    "Bash",
    "WebFetch",
    "ask_human",
    "spawn_subtask",
    "delegate_to_agent",
)
ToolName = Literal[
    "Read",
    "Write",
    "Edit",
    "Glob",
    "Grep",
    "Bash",
    "WebFetch",
    "ask_human",
    "spawn_subtask",
    "delegate_to_agent",
]
_TIER = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class _Text:
    @field_validator("*", mode="after")
    @classmethod
    def _reject_nul(cls, value: Any) -> Any:
        return _no_nul(value)


class AgentFields(_Text, Body):
    tier: str | None = Field(default=None, pattern=_TIER, description="Default: DEFAULT_TIER.")
    model: str | None = Field(default=None, min_length=1, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=64 * 1024)
    allowed_tools: list[ToolName] | None = Field(default=None, max_length=20)
    max_tool_calls: int | None = Field(default=None, ge=0, le=1000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    dedicated: bool | None = Field(
        default=None,
        description="Run on its own queue agent.<name>.<key> (shown as `queue`; start a "
        "worker for it).",
    )


class AgentCreate(AgentFields):
    name: str = Field(pattern=AGENT_NAME_PATTERN, description="Unique per owner.")


class AgentUpdate(AgentFields):
    pass


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    owner_id: str
    tier: str
    model: str | None
    system_prompt: str | None
    allowed_tools: list[str]
    max_tool_calls: int | None
    temperature: float | None
    dedicated: bool
    queue: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class AgentList(BaseModel):
    items: list[AgentOut]


class ChatIn(_Text, Body):
    message: str = Field(min_length=1, max_length=64 * 1024)
    session_id: uuid.UUID | None = None

    @field_validator("session_id", mode="before")
    @classmethod
    def _uuid_text(cls, value: Any) -> Any:
        # strict mode would refuse the JSON string form of a UUID
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                raise ValueError("session_id must be a UUID") from None
        return value


class ChatOut(BaseModel):
    reply: str
    session_id: uuid.UUID
    task_id: uuid.UUID
    resumed: bool = Field(description="True when the session had expired and was resumed.")
    tokens_in: int
    tokens_out: int


class TaskIn(_Text, Body):
    message: str = Field(min_length=1, max_length=64 * 1024)
    callback_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://[^\s]+$")


class TaskOut(BaseModel):
    id: uuid.UUID
    agent: str
    kind: str
    status: Literal["pending", "running", "succeeded", "failed"]
    message: str
    reply: str | None
    error: str | None
    callback_url: str | None
    callback_status: str | None
    tokens_in: int
    tokens_out: int
    created_at: UtcDateTime
    finished_at: UtcDateTime | None


class TaskList(BaseModel):
    items: list[TaskOut]


class TaskListQuery(Query):
    limit: int = Field(default=50, ge=1, le=500)


class MemoryQuery(Query):
    session_id: uuid.UUID


class MemoryMessage(BaseModel):
    role: str
    content: str
    created_at: UtcDateTime


class MemoryOut(BaseModel):
    session_id: uuid.UUID
    expired: bool
    window: int
    messages: list[MemoryMessage]


class TraceOut(BaseModel):
    id: int
    run_id: uuid.UUID | None
    movement: str | None
    tool: str
    input: Any = None
    output: str
    latency_ms: int
    outcome: str
    error: str | None
    created_at: UtcDateTime


class TraceList(BaseModel):
    items: list[TraceOut]


class AnswerIn(_Text, Body):
    answer: str = Field(min_length=1, max_length=64 * 1024)


class AnswerOut(BaseModel):
    job_status: str
    resumed: bool
