"""Request and response models of the swarm-control API (/api/nodes, /api/swarm/*)."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from app.schemas import NAME_PATTERN, Body, Query, _no_nul

# Docker's own rule for service names (63 characters, no dots).
SERVICE_NAME_PATTERN = r"^[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class NodeOut(BaseModel):
    id: str
    hostname: str
    role: str = Field(description="manager | worker | standalone (engine not in swarm mode)")
    availability: str
    state: str
    addr: str | None = None
    manager_addr: str | None = None
    leader: bool = False
    engine_version: str | None = None


class NodeList(BaseModel):
    items: list[NodeOut]


class ContainerStatsOut(BaseModel):
    id: str
    name: str
    service: str | None = None
    cpu_percent: float = Field(description="Relative to one CPU, as `docker stats` prints it.")
    memory_used: int
    memory_limit: int
    memory_percent: float


class NodeStatsList(BaseModel):
    items: list[ContainerStatsOut]


class ServiceOut(BaseModel):
    id: str
    name: str
    image: str
    kind: str | None = None
    tier: str | None = None
    agent: str | None = None
    queue: str | None = None
    desired_replicas: int
    running_replicas: int
    max_replicas: int
    labels: dict[str, str]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_activity: datetime | None = None
    idle_minutes: float | None = Field(
        default=None, description="Minutes since last_activity (work on its queue or a change)."
    )


class ServiceList(BaseModel):
    items: list[ServiceOut]


class ServiceRemoved(BaseModel):
    service: str
    removed: bool


class AgentDeploy(Body):
    """Deploy a dedicated service for a registered agent (it consumes the agent's queue)."""

    agent: str = Field(pattern=NAME_PATTERN, description="A registered agent of yours.")
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$",
        description="Default: WORKER_IMAGE.",
    )
    command: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Container command; default `legato worker --tier <the agent's queue>`.",
    )
    replicas: int = Field(default=1, ge=0, le=100)
    networks: list[str] | None = Field(
        default=None, max_length=16, description="Default: SWARM_NETWORK if set."
    )
    env: dict[str, str] = Field(default_factory=dict, max_length=128)

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _no_nul(value)
            if any(len(arg) > 4096 for arg in value):
                raise ValueError("command arguments must be at most 4096 characters")
        return value

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", name):
                raise ValueError(f"invalid network name {name[:80]!r}")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        _no_nul(value)
        for key, item in value.items():
            if not re.match(ENV_NAME_PATTERN, key):
                raise ValueError(f"invalid environment variable name {key[:80]!r}")
            if len(item) > 8192:
                raise ValueError(f"value of {key} is longer than 8192 characters")
        return value


class EventsQuery(Query):
    service: str | None = Field(default=None, pattern=SERVICE_NAME_PATTERN)
    limit: int = Field(default=100, ge=1, le=1000)
    before: int | None = Field(default=None, ge=1, le=2**62, description="Only ids below this.")


class ScalingEventOut(BaseModel):
    id: int
    service: str
    action: str = Field(description="scale_up | scale_down | start | stop | deploy | remove")
    trigger: str = Field(description="idle (beat pass) | enqueue (wake on enqueue) | api")
    from_replicas: int | None = None
    to_replicas: int | None = None
    reason: str
    ok: bool
    error: str | None = None
    actor: str | None = None
    created_at: datetime


class ScalingEventList(BaseModel):
    items: list[ScalingEventOut]
