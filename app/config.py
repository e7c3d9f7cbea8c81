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
    max_instruction_bytes: int = Field(default=64 * 1024, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    default_max_attempts: int = Field(default=3, ge=1, le=20)

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

    @property
    def sqlite_path(self) -> Path:
        return self.legato_data_dir.resolve() / "legato.db"

    @property
    def sqlalchemy_url(self) -> str:
        if not self.database_url:
            return f"sqlite:///{self.sqlite_path}"
        return _with_psycopg2(self.database_url)

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


def _with_psycopg2(url: str) -> str:
    """Plain postgres URLs name the driver we ship (SQLAlchemy may default to psycopg 3)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and `legato run` change the environment)."""
    get_settings.cache_clear()
