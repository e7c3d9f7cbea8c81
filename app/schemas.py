"""Request and response models: they validate the API and generate /openapi.json."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# Owner ids (token owners, ?owner=): never "*" or anything else with a meaning of its own.
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
# Deeper JSON is refused at the edge: it can exceed what the serialisers (ours,
# pydantic's, the database driver's) will nest, after the row is already stored.
PAYLOAD_MAX_DEPTH = 32
JOB_STATUSES = Literal[
    "queued",
    "running",
    "retry",
    "waiting_human",
    "waiting_subtasks",
    "succeeded",
    "failed",
    "cancelled",
]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Every time we store is UTC, but SQLite hands it back without an offset; a response
# always says +00:00 (RFC 3339), whichever database answered.
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


def _within_depth(value: Any, limit: int) -> Any:
    """Refuse JSON nested more than ``limit`` levels (iterative: any depth is safe here)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                raise ValueError(f"must not be nested more than {limit} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL; refuse it at the edge instead of failing on insert."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class Body(BaseModel):
    """Request bodies: unknown fields are an error, and JSON types are taken strictly."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query strings arrive as text, so values are coerced (but unknown keys still refused)."""

    model_config = ConfigDict(extra="forbid")


class JobCreate(Body):
    instruction: str = Field(min_length=1, description="What the job should do.")
    piece: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Piece name; defaults to DEFAULT_PIECE."
    )
    workflow: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="TAKT v0.60's word for piece: the same name space; give one of the two.",
    )
    tier: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Role tier; defaults to DEFAULT_TIER."
    )
    max_attempts: int = Field(default=3, ge=1, le=20)
    visibility: Literal["private", "public"] = "private"
    interactive: bool = Field(
        default=False,
        description="Offer rules marked interactive_only to the judges (TAKT's interactive mode).",
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Your data, kept with the job: at most {PAYLOAD_MAX_DEPTH} levels deep "
        "and MAX_PAYLOAD_BYTES as JSON.",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        description="POSTed (HMAC-signed) with the result when the job ends.",
    )

    @model_validator(mode="after")
    def _one_name(self) -> JobCreate:
        if self.workflow is not None:
            if self.piece is not None and self.piece != self.workflow:
                raise ValueError("give piece or workflow, not two different names")
            self.piece = self.workflow
        return self

    @field_validator("payload", mode="before")
    @classmethod
    def _bounded_depth(cls, value: Any) -> Any:
        # Before pydantic walks it, so nothing recursive ever sees a deeper value.
        return _within_depth(value, PAYLOAD_MAX_DEPTH)

    @field_validator("instruction", "payload")
    @classmethod
    def _reject_nul(cls, value: Any) -> Any:
        return _no_nul(value)

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class JobListQuery(Query):
    status: JOB_STATUSES | None = None
    piece: str | None = Field(default=None, pattern=NAME_PATTERN)
    owner: str | None = Field(
        default=None,
        pattern=r"^(\*|" + OWNER_PATTERN[1:-1] + r")$",
        description="Admins only: an owner id, or * for every owner.",
    )
    tier: str | None = Field(default=None, pattern=NAME_PATTERN)
    id_prefix: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F-]{1,36}$",
        description="Jobs whose id starts with these hex digits (hyphens optional).",
    )
    q: str | None = Field(
        default=None, min_length=1, max_length=200, description="Text the instruction contains."
    )
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class EventsQuery(Query):
    follow: bool = False
    # Text, checked by the view: a malformed event id is a 400 like a bad Last-Event-ID.
    after: str = Field(
        default="0",
        description="Only events with a larger id: 1 to 18 digits 0-9.",
        json_schema_extra={"pattern": "^[0-9]{1,18}$"},
    )
    limit: int = Field(default=500, ge=1, le=5000)


class PhaseOut(BaseModel):
    """One model exchange of a run (TAKT's phases), without its prompt and answer texts."""

    seq: int
    phase: int
    kind: str
    name: str | None
    status: str
    match_method: str | None
    matched_rule: int | None
    tokens_in: int
    tokens_out: int
    latency_ms: int
    model: str | None
    created_at: datetime


class PhaseDetail(PhaseOut):
    prompt: str
    system: str | None
    answer: str
    error: str | None


class MovementRunOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: str = "agent"
    attempt: int
    iteration: int
    movement_iteration: int
    status: str
    tier: str
    parent_run_id: uuid.UUID | None
    output: str | None
    matched_rule: int | None
    matched_condition: str | None
    match_method: str | None = None
    next: str | None
    route: str | None = None
    error: str | None
    retry_count: int
    tokens_in: int
    tokens_out: int
    latency_ms: int | None
    model: str | None
    state: dict[str, Any] | None = Field(
        default=None,
        description="Workflow dialect: what the run added to the workflow state "
        "(structured.<step>, or a system step's context and effect results).",
    )
    not_before: datetime | None = Field(
        default=None, description="delay_before_ms: the run was not started before this."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    phases: list[PhaseOut] = []


class JobOut(BaseModel):
    id: uuid.UUID
    owner_id: str
    visibility: str
    tier: str
    piece_name: str
    instruction: str
    status: str
    attempt: int
    max_attempts: int
    next_retry_at: datetime | None
    error_summary: str | None
    abort_reason: str | None
    result: str | None
    current_movement: str | None
    current_activity: str | None
    parent_job_id: uuid.UUID | None
    subtask_depth: int
    task_kind: str
    payload: dict[str, Any]
    tokens_in: int
    tokens_out: int
    callback_url: str | None = None
    interactive: bool = False
    call_run_id: uuid.UUID | None = Field(
        default=None, description="A called workflow: the workflow_call run that called it."
    )
    returned: str | None = Field(
        default=None, description="The label a `return:` rule ended the workflow with."
    )
    effect_run_id: uuid.UUID | None = Field(
        default=None,
        description="An enqueued job (task_kind `enqueued`): the system step run whose "
        "enqueue_task effect submitted it.",
    )
    abort_kind: str | None = Field(
        default=None,
        description="Why it aborted, in TAKT's words: step_transition, iteration_limit, "
        "rule_no_match, runtime_error, interrupt.",
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class ChildJobOut(BaseModel):
    """A job this one started: a called workflow (task_kind `call`) or a subtask."""

    id: uuid.UUID
    task_kind: str
    piece_name: str
    status: str
    call_run_id: uuid.UUID | None = None
    subtask_index: int | None = None
    returned: str | None = None
    abort_reason: str | None = None
    created_at: datetime
    finished_at: datetime | None


class JobDetail(JobOut):
    runs: list[MovementRunOut]
    children: list[ChildJobOut] = []


class JobList(BaseModel):
    items: list[JobOut]
    limit: int
    offset: int
    next_offset: int | None


class EventOut(BaseModel):
    id: int
    kind: str
    data: dict[str, Any]
    created_at: datetime


class EventList(BaseModel):
    items: list[EventOut]
    job_status: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


class ReplayCreate(Body):
    movement: str = Field(min_length=1, max_length=200, description="The movement to start from.")
    attempt: int | None = Field(
        default=None, ge=1, le=1000, description="The attempt to replay; default: the latest."
    )
    iteration: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Which run of the movement, by iteration; default: its first in that attempt.",
    )


class InputCreate(Body):
    text: str = Field(min_length=1, max_length=64 * 1024)

    @field_validator("text")
    @classmethod
    def _reject_nul(cls, value: str) -> str:
        return _no_nul(value)


class InputOut(BaseModel):
    id: uuid.UUID
    text: str
    job_status: str
    created_at: datetime


class ReportSummary(BaseModel):
    name: str
    attempt: int
    movement_run_id: uuid.UUID | None
    size: int
    created_at: datetime


class ReportList(BaseModel):
    items: list[ReportSummary]


class ReportOut(ReportSummary):
    content: str


class ProblemOut(BaseModel):
    path: str
    message: str
    hint: str | None
    severity: Literal["error", "warning"]
    text: str


class ValidationOut(BaseModel):
    ok: bool
    errors: list[ProblemOut]
    warnings: list[ProblemOut]


class PieceValidate(Body):
    yaml: str = Field(min_length=1, max_length=256 * 1024, description="The piece file's text.")

    @field_validator("yaml")
    @classmethod
    def _reject_nul(cls, value: str) -> str:
        return _no_nul(value)


class PieceSummary(BaseModel):
    name: str
    description: str | None
    movements: list[str]
    source: str


class PieceList(BaseModel):
    items: list[PieceSummary]


class PieceDetail(BaseModel):
    name: str
    source: str
    piece: dict[str, Any] = Field(description="The resolved piece: facets inlined, defaults set.")
    warnings: list[ProblemOut]
