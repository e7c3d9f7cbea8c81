"""The one typed settings object, read from environment variables.

Embedded defaults make `legato run` work with no services at all: a SQLite file
under LEGATO_DATA_DIR for the database, Kombu's SQLAlchemy transport on that same
file for the broker, and the offline `demo` LLM provider.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_TIERS = ("fast", "auto", "quality", "reflection")
MAINTENANCE_QUEUE = "maintenance"


@dataclass(frozen=True)
class TierEndpoint:
    """Where one tier's LLM calls go. `base_url=None` means the offline demo provider."""

    tier: str
    base_url: str | None
    model: str
    api_key: str | None = field(default=None, repr=False)


class Settings(BaseSettings):
    # Empty variables (e.g. `LLM_API_KEY=` in an env file) mean "unset", not "empty string".
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    legato_data_dir: Path = Field(default=Path(".legato"))
    database_url: str | None = None
    broker_url: str | None = None
    # Prefix for every Redis key Kombu writes, so several deployments (or test runs)
    # can share one Redis.
    broker_key_prefix: str | None = None
    broker_visibility_timeout: int | None = Field(default=None, ge=1)

    llm_base_url: str | None = None
    llm_api_key: str | None = Field(default=None, repr=False)
    llm_model: str | None = None
    llm_max_retries: int = Field(default=3, ge=0, le=20)
    llm_retry_initial_delay: float = Field(default=2.0, ge=0)
    llm_retry_max_delay: float = Field(default=30.0, ge=0)
    llm_timeout: float = Field(default=120.0, gt=0)

    tiers: Annotated[tuple[str, ...], NoDecode] = DEFAULT_TIERS
    default_tier: str = "auto"
    default_piece: str = "demo"
    pieces_path: Annotated[tuple[Path, ...], NoDecode] = ()

    auth_mode: Literal["token", "none"] = "none"
    movement_lease_seconds: int = Field(default=120, ge=5)
    worker_concurrency: int = Field(default=32, ge=1)
    # Celery task events (task-received/started/succeeded per task) are what Flower shows
    # live; each costs the worker a Redis publish and CPU on every movement. Off unless a
    # deployment runs Flower (Flower also switches them on while it runs: enable_events).
    worker_task_events: bool = False
    # Database connections per process (pool + overflow); see app._engine_options.
    db_pool_size: int = Field(default=10, ge=1)
    db_pool_overflow: int = Field(default=10, ge=0)
    max_instruction_bytes: int = Field(default=64 * 1024, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    default_max_attempts: int = Field(default=3, ge=1, le=20)

    # -- what one client may hold: payload size, live event streams ----------
    max_payload_bytes: int = Field(default=256 * 1024, ge=1024)
    # Open `events?follow=1` streams per owner (across API processes when the broker is
    # Redis); one more is a 429.
    streams_per_owner: int = Field(default=16, ge=1, le=10_000)
    # A stream ends after this long; clients reconnect with Last-Event-ID.
    stream_max_seconds: float = Field(default=300.0, gt=0)

    # -- swarm control and scale-to-zero ------------------------------------
    # Off by default: under Compose or Kubernetes there is no Swarm to drive, so the
    # API's swarm endpoints answer 503 and the scaler's beat task does nothing.
    swarm_enabled: bool = False
    # Where the Docker engine is (a manager's socket); None = the docker SDK default.
    docker_host: str | None = None
    idle_scale_down_minutes: float = Field(default=15.0, ge=0)
    idle_scale_interval: float = Field(default=60.0, gt=0)
    # Upper bound for any automatic scale-up, on top of each service's legato.max_replicas.
    scale_max_replicas: int = Field(default=8, ge=1, le=100)
    # Image and overlay network for agent services deployed through the API.
    worker_image: str = "legato:latest"
    swarm_network: str | None = None
    # The scaler manages only legato services whose name starts with this (e.g. the
    # stack's "legato_"), so two deployments sharing a swarm leave each other alone.
    swarm_service_prefix: str = ""

    # -- durability: retries, the beat maintenance loop, reflection, callbacks --
    # Wait before attempt n+1 is the n-th entry (the last one repeats).
    retry_backoff_seconds: Annotated[tuple[float, ...], NoDecode] = (30.0, 120.0, 600.0)
    # An ABORT (a rule, no matching rule, max_movements, a loop judge) fails the attempt
    # like any other failure: the next attempt gets the handoff and may do better.
    # False makes a piece's own ABORT final.
    retry_on_abort: bool = True
    handoff_max_chars: int = Field(default=4000, ge=200)
    # How many times a timed-out (lease expired) movement run is re-run in one attempt.
    run_retry_budget: int = Field(default=1, ge=0, le=20)
    # Hand-backs for an unreachable endpoint before the attempt is consumed after all.
    unreachable_max_requeues: int = Field(default=20, ge=0)
    reconcile_after_seconds: float = Field(default=60.0, gt=0)
    beat_recover_stuck_seconds: float = Field(default=60.0, gt=0)
    beat_dispatch_retries_seconds: float = Field(default=15.0, gt=0)
    beat_reconcile_seconds: float = Field(default=60.0, gt=0)
    beat_reflections_seconds: float = Field(default=300.0, gt=0)
    beat_probe_seconds: float = Field(default=30.0, gt=0)
    reflection_enabled: bool = False
    reflection_require_worker: bool = True
    reflection_daily_token_budget: int = Field(default=0, ge=0)
    notes_max_chars: int = Field(default=2000, ge=0)
    callback_secret: str | None = Field(default=None, repr=False)
    # Hosts (names or IPs) a callback may reach even if private/loopback; comma-separated.
    callback_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    callback_max_attempts: int = Field(default=5, ge=1, le=50)
    callback_backoff_seconds: float = Field(default=5.0, ge=0)
    callback_timeout: float = Field(default=10.0, gt=0)

    @field_validator("retry_backoff_seconds", mode="before")
    @classmethod
    def _split_backoff(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(float(v) for v in value.split(",") if v.strip())
        return value

    @field_validator("retry_backoff_seconds")
    @classmethod
    def _check_backoff(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(v < 0 for v in value):
            raise ValueError("RETRY_BACKOFF_SECONDS needs one or more non-negative numbers")
        return value

    @field_validator("callback_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    # -- agents & tools: limits every agent turn runs under ----------------
    workspace_root: Path | None = None  # default: $LEGATO_DATA_DIR/workspaces
    max_tool_calls: int = Field(default=20, ge=0, le=1000)
    tool_output_cap: int = Field(default=16 * 1024, ge=256)
    tools_allow_shell: bool = False
    shell_timeout: float = Field(default=30.0, gt=0)
    webfetch_max_bytes: int = Field(default=512 * 1024, ge=1024)
    webfetch_timeout: float = Field(default=15.0, gt=0)
    # Hosts or CIDRs WebFetch may reach although they are loopback/private/link-local.
    webfetch_allow: Annotated[tuple[str, ...], NoDecode] = ()
    subtask_max_depth: int = Field(default=2, ge=0, le=10)
    subtask_max_per_parent: int = Field(default=5, ge=0, le=100)
    chat_memory_messages: int = Field(default=20, ge=1, le=1000)
    chat_session_ttl_minutes: int = Field(default=30, ge=1)
    chat_timeout_seconds: float = Field(default=120.0, gt=0)

    # -- the three-phase movement (TAKT's execution model) ---------------------------
    # Which tier's endpoint answers status judgments (Phase 3); unset: the movement's.
    judge_tier: str | None = None
    # How much of a session key's conversation a movement continues: the newest
    # exchanges, at most this many, within this many characters.
    conversation_max_turns: int = Field(default=20, ge=0, le=500)
    conversation_max_chars: int = Field(default=60_000, ge=0)
    # Workflow `companion` reviewers: off by default, as TAKT's runtime.yaml has them;
    # when on, at most this many follow-up rounds per step run (TAKT sets no bound).
    companions_enabled: bool = False
    companion_max_rounds: int = Field(default=3, ge=1, le=20)
    # delay_before_ms: the longest wait legato honours (None: as the workflow asks). A
    # polling workflow (TAKT's auto-improvement-loop waits 60 s per scan) can be made to
    # poll faster in a test or staging deployment.
    step_delay_max_ms: int | None = Field(default=None, ge=0)

    @field_validator("webfetch_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    # -- security: rate limits, metrics access, bind refusal (README "Security") --
    # Per-owner limits in Flask-Limiter's notation ("60/minute", "10/second;500/hour");
    # unset or empty = no limit. Counted in Redis when the broker is Redis.
    rate_limit_submit: str = ""  # POST /api/jobs, agent chat and agent tasks
    rate_limit_validate: str = ""  # POST /api/pieces/validate
    # Bearer token Prometheus presents on /metrics (an admin API token works too).
    metrics_token: str | None = Field(default=None, repr=False)
    # /metrics aggregates the database at most this often per API process.
    metrics_cache_seconds: float = Field(default=5.0, ge=0)
    # AUTH_MODE=none on a non-loopback address is refused unless this is set.
    allow_insecure_bind: bool = False

    @field_validator("rate_limit_submit", "rate_limit_validate")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        if value.strip():
            from limits import parse_many

            parse_many(value)  # ValueError names the bad string
        return value.strip()

    @property
    def workspaces_dir(self) -> Path:
        return (self.workspace_root or self.legato_data_dir / "workspaces").resolve()

    @field_validator("tiers", mode="before")
    @classmethod
    def _split_tiers(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("pieces_path", mode="before")
    @classmethod
    def _split_path(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(Path(p) for p in value.split(os.pathsep) if p)
        return value

    @field_validator("tiers")
    @classmethod
    def _check_tiers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("TIERS must name at least one tier")
        for tier in value:
            if not tier.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"tier name {tier!r} must be alphanumeric (with - or _)")
        return value

    @model_validator(mode="after")
    def _check_default_tier(self) -> Settings:
        if self.default_tier not in self.tiers:
            raise ValueError(f"DEFAULT_TIER {self.default_tier!r} is not one of TIERS")
        return self

    # -- derived values -------------------------------------------------------

    def backoff_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based); the last entry repeats."""
        steps = self.retry_backoff_seconds
        return steps[min(attempt, len(steps)) - 1]

    @property
    def sqlite_path(self) -> Path:
        return self.legato_data_dir.resolve() / "legato.db"

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            return f"sqlite:///{self.sqlite_path}"
        return _with_psycopg(self.database_url)

    @property
    def celery_broker_url(self) -> str:
        # Kombu's SQLAlchemy transport is spelled "sqla+<sqlalchemy url>".
        return self.broker_url or f"sqla+sqlite:///{self.sqlite_path}"

    @property
    def embedded(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def queues(self) -> tuple[str, ...]:
        return (*self.tiers, MAINTENANCE_QUEUE)

    def tier_endpoint(self, tier: str) -> TierEndpoint:
        """The tier's LLM endpoint: `LLM_<TIER>_*` overrides, then the global `LLM_*`."""
        prefix = f"LLM_{tier.upper().replace('-', '_')}_"
        base_url = os.environ.get(prefix + "BASE_URL") or self.llm_base_url
        model = os.environ.get(prefix + "MODEL") or self.llm_model
        api_key = os.environ.get(prefix + "API_KEY") or self.llm_api_key
        if not base_url:
            return TierEndpoint(tier=tier, base_url=None, model=model or "demo")
        return TierEndpoint(
            tier=tier, base_url=base_url.rstrip("/"), model=model or "default", api_key=api_key
        )


def _with_psycopg(url: str) -> str:
    """Postgres URLs name the driver we ship, psycopg 3 (SQLAlchemy's default for a plain
    postgresql:// is psycopg2). A psycopg2 URL from an older deployment keeps working."""
    for scheme in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and `legato run` change the environment)."""
    get_settings.cache_clear()
