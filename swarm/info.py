"""What Docker reports back, as legato reads it: nodes, services, container stats."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import (
    SwarmError,
)
from .policy import ScalingDecision, ServiceLoad


@dataclass(frozen=True)
class NodeInfo:
    """One swarm node, or the standalone host when the engine is not in swarm mode
    (``role == "standalone"``)."""

    id: str
    hostname: str
    role: str
    availability: str
    state: str
    addr: str | None = None
    manager_addr: str | None = None
    leader: bool = False
    engine_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _asdict(self)


@dataclass(frozen=True)
class ContainerStats:
    """A legato container's resource use, from one ``GET /containers/{id}/stats``.

    ``cpu_percent`` is relative to one CPU (as ``docker stats`` prints it: 200 means
    two full cores). ``memory_used`` excludes the page cache."""

    id: str
    name: str
    service: str | None
    cpu_percent: float
    memory_used: int
    memory_limit: int
    memory_percent: float

    def to_dict(self) -> dict[str, Any]:
        return _asdict(self)


@dataclass(frozen=True)
class ServiceInfo:
    """A legato service as listed by :meth:`SwarmBackend.services`.

    ``last_activity`` is the ``legato.last_activity`` label if set; otherwise the
    service's last update time (creation, scaling, label change). ``running_replicas``
    counts tasks in state ``running``."""

    id: str
    name: str
    image: str
    kind: str | None
    tier: str | None
    agent: str | None
    queue: str | None
    desired_replicas: int
    running_replicas: int
    max_replicas: int
    labels: Mapping[str, str]
    created_at: datetime | None
    updated_at: datetime | None
    last_activity: datetime | None

    def idle_minutes(self, now: datetime | None = None) -> float | None:
        """Minutes since ``last_activity`` (``None`` if unknown), never negative."""
        if self.last_activity is None:
            return None
        now = now or datetime.now(UTC)
        return max((now - self.last_activity).total_seconds() / 60.0, 0.0)

    def to_load(
        self, *, queue_depth: int, running: int, last_activity: datetime | None = None
    ) -> ServiceLoad:
        """This service as input for :func:`swarm.policy.decide`.

        ``last_activity`` (e.g. the newest movement run on this service's queue in
        the database) wins over the service's own when it is more recent."""
        activity = self.last_activity
        if last_activity is not None and (activity is None or last_activity > activity):
            activity = last_activity
        return ServiceLoad(
            name=self.name,
            replicas=self.desired_replicas,
            last_activity=activity,
            queue_depth=queue_depth,
            running=running,
            max_replicas=self.max_replicas,
        )

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO-8601, plus ``idle_minutes``).
        Carries no environment, so no secrets."""
        out = _asdict(self)
        out["labels"] = dict(self.labels)
        idle = self.idle_minutes(now)
        out["idle_minutes"] = None if idle is None else round(idle, 2)
        return out


@dataclass(frozen=True)
class AppliedDecision:
    """The outcome of applying one :class:`ScalingDecision`: ``ok`` with the
    replicas before, or the :class:`SwarmError` that stopped it."""

    decision: ScalingDecision
    ok: bool
    previous_replicas: int | None = None
    error: SwarmError | None = None


def _asdict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _parse_time(value: str | None) -> datetime | None:
    """Parse Docker's RFC 3339 timestamps (nanosecond fractions) to aware datetimes."""
    if not value or value.startswith("0001-01-01"):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", value)
    if not m:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    base, frac, tz = m.groups()
    text = base + (("." + frac[:6].ljust(6, "0")) if frac else "")
    text += "+00:00" if tz in (None, "Z") else tz
    return datetime.fromisoformat(text).astimezone(UTC)


# --------------------------------------------------------------------------- backend


def _cpu_percent(stats: Mapping[str, Any]) -> float:
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    pre_system = pre.get("system_cpu_usage")
    if None in (total, pre_total, system, pre_system):
        return 0.0
    cpu_delta = total - pre_total
    system_delta = system - pre_system
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    return cpu_delta / system_delta * (online or 1) * 100.0


def _memory(stats: Mapping[str, Any]) -> tuple[int, int]:
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    # Same as `docker stats`: cgroup v1 subtracts total_inactive_file, v2 inactive_file.
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0)) or 0
    used = usage - int(cache) if cache < usage else usage
    return used, int(mem.get("limit") or 0)
