"""Docker Swarm backend: nodes, container stats and legato's services, over the docker SDK.

Usage (e.g. from the Flask API or the beat task)::

    from swarm import SwarmBackend, ServiceSpec

    backend = SwarmBackend()                     # DOCKER_HOST or the default socket
    backend.create_service(ServiceSpec.for_agent("reviewer", image="legato:latest"))
    for svc in backend.services():               # legato-managed services only
        print(svc.name, svc.desired_replicas, svc.running_replicas, svc.last_activity)
    backend.stop("legato-agent-reviewer")        # scale to 0
    backend.start("legato-agent-reviewer")       # scale to 1
    backend.remove("legato-agent-reviewer")

Every method raises a :class:`swarm.errors.SwarmError` subclass, never a docker SDK
or requests exception: :class:`DockerUnavailable` (503), :class:`NotASwarmManager`
(503), :class:`ServiceNotFound` (404), :class:`ServiceConflict` (409),
:class:`InvalidServiceSpec` (422) or :class:`DockerAPIError` (502).

A service is *legato's* when its service labels carry ``legato.managed=true``; the
backend lists and changes only those (others are reported as not found). Labels
written by :meth:`SwarmBackend.create_service` (and by ``deploy/stack.yml``):

======================  ===============================================
``legato.managed``      ``true``
``legato.kind``         ``agent`` or ``worker``
``legato.tier``         the role tier (``fast``, ``auto``, ...)
``legato.agent``        the agent's name (agent services only)
``legato.queue``        the Celery queue consumed: ``agent.<name>`` or the tier
``legato.max_replicas`` upper bound for automatic scale-up (default 1)
``legato.last_activity`` ISO-8601 time of the last work (see ``mark_activity``)
======================  ===============================================

The same labels are put on the containers, so :meth:`SwarmBackend.node_stats` can
find legato containers outside swarm mode (Compose) too.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import docker
import docker.errors
import requests.exceptions
from docker.types import Healthcheck, Resources, RestartPolicy, ServiceMode, UpdateConfig

from .errors import (
    DockerAPIError,
    DockerUnavailable,
    InvalidServiceSpec,
    NotASwarmManager,
    ServiceConflict,
    ServiceNotFound,
    SwarmError,
)
from .policy import ScalingDecision, ServiceLoad, decide

__all__ = [
    "LABEL_AGENT",
    "LABEL_KIND",
    "LABEL_LAST_ACTIVITY",
    "LABEL_MANAGED",
    "LABEL_MAX_REPLICAS",
    "LABEL_QUEUE",
    "LABEL_TIER",
    "AppliedDecision",
    "ContainerStats",
    "HealthcheckSpec",
    "NodeInfo",
    "ServiceInfo",
    "ServiceSpec",
    "SwarmBackend",
    "agent_queue",
    "agent_service_name",
    "worker_service_name",
]

LABEL_MANAGED = "legato.managed"
LABEL_KIND = "legato.kind"
LABEL_TIER = "legato.tier"
LABEL_AGENT = "legato.agent"
LABEL_QUEUE = "legato.queue"
LABEL_MAX_REPLICAS = "legato.max_replicas"
LABEL_LAST_ACTIVITY = "legato.last_activity"

Kind = Literal["agent", "worker"]
_NS = 1_000_000_000
_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$")
_SLUG_STRIP = re.compile(r"[^a-z0-9-]+")


# --------------------------------------------------------------------------- naming


def _slug(text: str) -> str:
    slug = _SLUG_STRIP.sub("-", text.strip().lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


def agent_service_name(agent: str) -> str:
    """The swarm service name for a dedicated agent service: ``legato-agent-<agent>``.

    The agent's name is lower-cased and anything but ``[a-z0-9-]`` becomes ``-``;
    the result is cut to Docker's 63-character limit."""
    slug = _slug(agent)
    if not slug:
        raise InvalidServiceSpec(f"agent name {agent!r} has no usable characters", field="agent")
    return f"legato-agent-{slug}"[:63].rstrip("-")


def worker_service_name(tier: str) -> str:
    """The swarm service name for a tier's worker service: ``legato-worker-<tier>``."""
    slug = _slug(tier)
    if not slug:
        raise InvalidServiceSpec(f"tier name {tier!r} has no usable characters", field="tier")
    return f"legato-worker-{slug}"[:63].rstrip("-")


def agent_queue(agent: str) -> str:
    """The Celery queue a dedicated agent service consumes: ``agent.<agent>``."""
    return f"agent.{agent}"


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class HealthcheckSpec:
    """A container healthcheck; ``test`` as in Docker (``["CMD", ...]``,
    ``["CMD-SHELL", "..."]`` or ``["NONE"]``). Durations in seconds."""

    test: Sequence[str]
    interval_s: float = 30.0
    timeout_s: float = 5.0
    retries: int = 3
    start_period_s: float = 10.0

    def to_docker(self) -> Healthcheck:
        return Healthcheck(
            test=list(self.test),
            interval=int(self.interval_s * _NS),
            timeout=int(self.timeout_s * _NS),
            retries=self.retries,
            start_period=int(self.start_period_s * _NS),
        )


@dataclass(frozen=True)
class ServiceSpec:
    """Everything needed to create a legato agent or tier-worker service.

    Prefer the constructors :meth:`for_agent` and :meth:`for_tier`, which fill in
    the name, queue, command and environment. Validation happens in
    ``__post_init__`` and raises :class:`InvalidServiceSpec`.

    Attributes:
        name: service name (``[a-zA-Z0-9][a-zA-Z0-9_-]*``, at most 63 characters).
        image: image reference, used as given (no registry look-up).
        kind: ``"agent"`` (a dedicated agent's service) or ``"worker"`` (a tier's).
        tier: the role tier; required for workers.
        agent: the agent's name; required for agents.
        queue: queue consumed (default ``agent.<agent>`` or the tier).
        command: the container command (default: see :meth:`default_command`).
        env: extra environment; ``AGENT_ID``/``TIER``/``LEGATO_QUEUE``/``LEGATO_ROLE``
            are added by the backend and may be overridden here.
        networks: network names or ids to attach (overlay networks in a swarm).
        replicas: initial replicas (``>= 0``).
        max_replicas: upper bound for automatic scale-up (label ``legato.max_replicas``).
        labels: extra service and container labels (``legato.*`` keys are reserved).
        cpu_limit / cpu_reservation: in CPUs (``0.5`` = half a core).
        memory_limit / memory_reservation: in bytes.
        restart_condition: ``"any"``, ``"on-failure"`` or ``"none"``.
        restart_delay_s / restart_max_attempts: restart policy (0 attempts = no limit).
        healthcheck: ``None`` keeps the image's ``HEALTHCHECK``.
        stop_grace_period_s: time between SIGTERM and SIGKILL when a task stops
            (Celery workers finish or re-queue their current task).
        constraints: placement constraints, e.g. ``["node.role == worker"]``.
    """

    name: str
    image: str
    kind: Kind
    tier: str | None = None
    agent: str | None = None
    queue: str | None = None
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    networks: Sequence[str] = ()
    replicas: int = 1
    max_replicas: int = 1
    labels: Mapping[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None
    cpu_reservation: float | None = None
    memory_limit: int | None = None
    memory_reservation: int | None = None
    restart_condition: Literal["any", "on-failure", "none"] = "any"
    restart_delay_s: float = 5.0
    restart_max_attempts: int = 0
    healthcheck: HealthcheckSpec | None = None
    stop_grace_period_s: float = 30.0
    constraints: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise InvalidServiceSpec(
                f"invalid service name {self.name!r}: use letters, digits, '-' or '_', "
                "start and end with a letter or digit, at most 63 characters",
                field="name",
            )
        if not isinstance(self.image, str) or not self.image.strip() or " " in self.image:
            raise InvalidServiceSpec(f"invalid image reference {self.image!r}", field="image")
        if self.kind not in ("agent", "worker"):
            raise InvalidServiceSpec(
                f"kind must be 'agent' or 'worker', not {self.kind!r}", field="kind"
            )
        if self.kind == "agent" and not self.agent:
            raise InvalidServiceSpec("an agent service needs the agent's name", field="agent")
        if self.kind == "worker" and not self.tier:
            raise InvalidServiceSpec("a worker service needs a tier", field="tier")
        _check_int(self.replicas, "replicas", minimum=0)
        _check_int(self.max_replicas, "max_replicas", minimum=1)
        _check_int(self.restart_max_attempts, "restart_max_attempts", minimum=0)
        for key in ("cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise InvalidServiceSpec(f"{key} must be positive", field=key)
        if self.restart_condition not in ("any", "on-failure", "none"):
            raise InvalidServiceSpec(
                "restart_condition must be 'any', 'on-failure' or 'none'",
                field="restart_condition",
            )
        if self.restart_delay_s < 0 or self.stop_grace_period_s < 0:
            raise InvalidServiceSpec("durations must be >= 0", field="restart_delay_s")
        if self.command is not None and (
            isinstance(self.command, str) or not all(isinstance(a, str) for a in self.command)
        ):
            raise InvalidServiceSpec("command must be a list of strings", field="command")
        for mapping, fname in ((self.env, "env"), (self.labels, "labels")):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
                raise InvalidServiceSpec(f"{fname} keys and values must be strings", field=fname)
            if fname == "env" and any(not k or "=" in k for k in mapping):
                raise InvalidServiceSpec("env names must be non-empty without '='", field="env")
        reserved = [k for k in self.labels if k.startswith("legato.")]
        if reserved:
            raise InvalidServiceSpec(
                f"labels {reserved} are reserved for legato (set them through the spec fields)",
                field="labels",
            )
        if isinstance(self.networks, str) or not all(
            isinstance(n, str) and n for n in self.networks
        ):
            raise InvalidServiceSpec("networks must be a list of names", field="networks")

    # -- constructors -------------------------------------------------------------

    @classmethod
    def for_agent(
        cls, agent: str, image: str, *, tier: str | None = None, **overrides: Any
    ) -> ServiceSpec:
        """A dedicated service for ``agent``: name ``legato-agent-<agent>``, queue
        ``agent.<agent>``, env ``AGENT_ID=<agent>``. ``overrides`` are any other
        :class:`ServiceSpec` fields (``command``, ``replicas``, ``networks``, ...)."""
        overrides.setdefault("name", agent_service_name(agent))
        return cls(image=image, kind="agent", agent=agent, tier=tier, **overrides)

    @classmethod
    def for_tier(cls, tier: str, image: str, **overrides: Any) -> ServiceSpec:
        """A worker service for a tier: name ``legato-worker-<tier>``, queue ``<tier>``,
        env ``TIER=<tier>``."""
        overrides.setdefault("name", worker_service_name(tier))
        return cls(image=image, kind="worker", tier=tier, **overrides)

    # -- derived values -----------------------------------------------------------

    @property
    def effective_queue(self) -> str:
        if self.queue:
            return self.queue
        if self.kind == "agent":
            return agent_queue(self.agent or "")
        return self.tier or ""

    def default_command(self) -> list[str]:
        """``legato worker --tier <queue>``: the tier for a tier worker,
        ``agent.<name>`` for an agent (``legato worker`` accepts ``agent.*`` queues)."""
        return ["legato", "worker", "--tier", self.effective_queue]

    def legato_labels(self) -> dict[str, str]:
        """The ``legato.*`` labels this spec puts on the service and its containers."""
        labels = {
            LABEL_MANAGED: "true",
            LABEL_KIND: self.kind,
            LABEL_QUEUE: self.effective_queue,
            LABEL_MAX_REPLICAS: str(self.max_replicas),
        }
        if self.tier:
            labels[LABEL_TIER] = self.tier
        if self.agent:
            labels[LABEL_AGENT] = self.agent
        return labels

    def environment(self) -> dict[str, str]:
        env = {"LEGATO_ROLE": "worker", "LEGATO_QUEUE": self.effective_queue}
        if self.tier:
            env["TIER"] = self.tier
        if self.agent:
            env["AGENT_ID"] = self.agent
        env.update(self.env)
        return env

    def to_create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``docker.DockerClient().services.create``."""
        labels = {**self.labels, **self.legato_labels()}
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "command": list(self.command) if self.command is not None else self.default_command(),
            "env": [f"{k}={v}" for k, v in sorted(self.environment().items())],
            "labels": labels,
            "container_labels": dict(labels),
            "mode": ServiceMode("replicated", replicas=self.replicas),
            "restart_policy": RestartPolicy(
                condition=self.restart_condition,
                delay=int(self.restart_delay_s * _NS),
                max_attempts=self.restart_max_attempts,
            ),
            "update_config": UpdateConfig(parallelism=1, order="stop-first"),
            "stop_grace_period": int(self.stop_grace_period_s * _NS),
        }
        if self.networks:
            kwargs["networks"] = list(self.networks)
        if self.constraints:
            kwargs["constraints"] = list(self.constraints)
        if self.healthcheck is not None:
            kwargs["healthcheck"] = self.healthcheck.to_docker()
        if any(
            v is not None
            for v in (
                self.cpu_limit,
                self.cpu_reservation,
                self.memory_limit,
                self.memory_reservation,
            )
        ):
            kwargs["resources"] = Resources(
                cpu_limit=_nano(self.cpu_limit),
                cpu_reservation=_nano(self.cpu_reservation),
                mem_limit=self.memory_limit,
                mem_reservation=self.memory_reservation,
            )
        return kwargs


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidServiceSpec(f"{name} must be an integer >= {minimum}", field=name)


def _nano(cpus: float | None) -> int | None:
    return None if cpus is None else round(cpus * _NS)


# --------------------------------------------------------------------------- results


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


class SwarmBackend:
    """legato's view of a Docker engine in swarm mode.

    Args:
        client: an existing ``docker.DockerClient``; if omitted, one is created on
            first use from ``base_url`` or, without it, from the environment
            (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``). Creating
            the backend never touches the network, so an app can build it at
            start-up while Docker is down; each call then raises
            :class:`DockerUnavailable`, and a later call retries the connection.
        base_url: e.g. ``unix:///var/run/docker.sock`` or ``tcp://manager:2375``.
        timeout: seconds for each Docker API request.
        managed_only: operate only on services labelled ``legato.managed=true``
            (the default; other services look like :class:`ServiceNotFound`).

    Thread-safe for concurrent calls (the SDK's HTTP session is shared).
    """

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        managed_only: bool = True,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._timeout = timeout
        self.managed_only = managed_only

    # -- connection ---------------------------------------------------------------

    @property
    def endpoint(self) -> str | None:
        """The Docker endpoint in use (``None``: the SDK default socket)."""
        if self._client is not None:
            api = self._client.api
            path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
            return f"unix://{path}" if path else getattr(api, "base_url", None)
        if self._base_url:
            return self._base_url
        return os.environ.get("DOCKER_HOST") or None

    @property
    def client(self) -> docker.DockerClient:
        """The underlying ``DockerClient``, connected on first use (API version
        negotiated with the daemon). Raises :class:`DockerUnavailable`."""
        if self._client is None:
            try:
                if self._base_url:
                    self._client = docker.DockerClient(
                        base_url=self._base_url, version="auto", timeout=self._timeout
                    )
                else:
                    self._client = docker.DockerClient.from_env(
                        version="auto", timeout=self._timeout
                    )
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise DockerUnavailable.for_endpoint(self.endpoint, exc) from exc
            except OSError as exc:
                raise DockerUnavailable.for_endpoint(self.endpoint, exc) from exc
        return self._client

    def close(self) -> None:
        """Close the HTTP connection pool (the backend reconnects on next use)."""
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def ping(self) -> None:
        """Raise :class:`DockerUnavailable` unless the daemon answers ``/_ping``."""
        with self._errors():
            self.client.ping()

    def swarm_state(self) -> dict[str, Any]:
        """``{"state": "active"|"inactive"|..., "manager": bool, "node_id": str|None,
        "engine_version": str}`` from ``GET /info``."""
        return self._state()[0]

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._errors():
            info = self.client.info()
        swarm = info.get("Swarm") or {}
        state = {
            "state": swarm.get("LocalNodeState") or "inactive",
            "manager": bool(swarm.get("ControlAvailable")),
            "node_id": swarm.get("NodeID") or None,
            "engine_version": info.get("ServerVersion"),
        }
        return state, info

    def require_manager(self) -> None:
        """Raise :class:`NotASwarmManager` unless the engine manages an active swarm."""
        state = self.swarm_state()
        if state["state"] != "active" or not state["manager"]:
            raise NotASwarmManager.default(state["state"])

    # -- nodes and stats ----------------------------------------------------------

    def nodes(self) -> list[NodeInfo]:
        """The swarm's nodes, or the standalone host (``role="standalone"``) when the
        engine is not in swarm mode. A swarm *worker* node cannot list the swarm and
        raises :class:`NotASwarmManager`."""
        state, info = self._state()
        if state["state"] != "active":
            return [
                NodeInfo(
                    id=info.get("ID") or "",
                    hostname=info.get("Name") or "",
                    role="standalone",
                    availability="active",
                    state="ready",
                    engine_version=info.get("ServerVersion"),
                )
            ]
        if not state["manager"]:
            raise NotASwarmManager.default(state["state"])
        with self._errors():
            raw = self.client.api.nodes()
        nodes = []
        for n in raw:
            spec = n.get("Spec") or {}
            status = n.get("Status") or {}
            mgr = n.get("ManagerStatus") or {}
            desc = n.get("Description") or {}
            nodes.append(
                NodeInfo(
                    id=n.get("ID", ""),
                    hostname=desc.get("Hostname") or "",
                    role=spec.get("Role") or "",
                    availability=spec.get("Availability") or "",
                    state=status.get("State") or "",
                    addr=status.get("Addr") or None,
                    manager_addr=mgr.get("Addr") or None,
                    leader=bool(mgr.get("Leader")),
                    engine_version=(desc.get("Engine") or {}).get("EngineVersion"),
                )
            )
        return sorted(nodes, key=lambda n: (n.role != "manager", n.hostname, n.id))

    def node_stats(self, *, max_workers: int = 8) -> list[ContainerStats]:
        """CPU and memory of each running legato container on the engine this client
        talks to (in a multi-node swarm: that node's containers only).

        A legato container is one labelled ``legato.managed=true`` or one that is a
        task of a legato service. Takes about one to two seconds (Docker samples CPU
        over an interval); containers are sampled concurrently."""
        with self._errors():
            listed = self.client.api.containers(filters={"status": "running"})
        service_ids: set[str] = set()
        if any(c.get("Labels", {}).get("com.docker.swarm.service.id") for c in listed):
            try:
                service_ids = {s.id for s in self.services()}
            except NotASwarmManager:
                service_ids = set()
        picked = [
            c
            for c in listed
            if (c.get("Labels") or {}).get(LABEL_MANAGED) == "true"
            or (c.get("Labels") or {}).get("com.docker.swarm.service.id") in service_ids
        ]
        if not picked:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(picked)))) as pool:
            results = list(pool.map(self._one_stats, picked))
        return sorted((r for r in results if r is not None), key=lambda s: s.name)

    def _one_stats(self, container: Mapping[str, Any]) -> ContainerStats | None:
        cid = container["Id"]
        labels = container.get("Labels") or {}
        name = ((container.get("Names") or ["/" + cid[:12]])[0]).lstrip("/")
        try:
            with self._errors():
                raw = self.client.api.stats(cid, stream=False)
        except DockerAPIError:
            return None  # the container went away between list and stats
        cpu = _cpu_percent(raw)
        used, limit = _memory(raw)
        return ContainerStats(
            id=cid[:12],
            name=name,
            service=labels.get("com.docker.swarm.service.name")
            or labels.get("com.docker.compose.service"),
            cpu_percent=round(cpu, 2),
            memory_used=used,
            memory_limit=limit,
            memory_percent=round(100.0 * used / limit, 2) if limit else 0.0,
        )

    # -- services -----------------------------------------------------------------

    def services(
        self,
        *,
        kind: str | None = None,
        queue: str | None = None,
    ) -> list[ServiceInfo]:
        """legato's services (label ``legato.managed=true``), sorted by name.

        Args:
            kind: only ``"agent"`` or only ``"worker"`` services.
            queue: only services consuming this queue.
        """
        self.require_manager()
        label_filter = [f"{LABEL_MANAGED}=true"]
        if kind:
            label_filter.append(f"{LABEL_KIND}={kind}")
        if queue:
            label_filter.append(f"{LABEL_QUEUE}={queue}")
        with self._errors():
            raw = self.client.api.services(filters={"label": label_filter}, status=True)
            infos = [self._info(s) for s in raw]
        return sorted(infos, key=lambda s: s.name)

    def get(self, name: str) -> ServiceInfo:
        """One legato service by exact name (or id). Raises :class:`ServiceNotFound`."""
        return self._info(self._raw(name))

    def create_service(self, spec: ServiceSpec) -> ServiceInfo:
        """Create the service described by ``spec`` and return it.

        Raises :class:`ServiceConflict` if the name is taken (by any service),
        :class:`NotASwarmManager`, :class:`DockerUnavailable`, or
        :class:`DockerAPIError` (e.g. an unknown network)."""
        if not isinstance(spec, ServiceSpec):
            raise InvalidServiceSpec("create_service needs a ServiceSpec")
        self.require_manager()
        kwargs = spec.to_create_kwargs()
        with self._errors(name=spec.name, creating=True):
            service = self.client.services.create(**kwargs)
        return self.get(service.id)

    def scale(self, name: str, replicas: int) -> ServiceInfo:
        """Set the desired replicas of a legato service; returns it afterwards.

        Retries when the service changed concurrently (Docker's "update out of
        sequence"). Raises :class:`ServiceNotFound`, :class:`InvalidServiceSpec`
        (negative replicas) or :class:`ServiceConflict` (a global-mode service)."""
        _check_int(replicas, "replicas", minimum=0)

        def change(raw: Mapping[str, Any]) -> dict[str, Any] | None:
            mode = raw["Spec"].get("Mode") or {}
            if "Replicated" not in mode:
                raise ServiceConflict(name, f"Service {name!r} is not replicated; cannot scale.")
            if int(mode["Replicated"].get("Replicas", 0)) == replicas:
                return None
            return {"mode": ServiceMode("replicated", replicas=replicas)}

        return self._update(name, change)

    def start(self, name: str) -> ServiceInfo:
        """Scale to 1 replica (a service already running keeps its replicas)."""
        info = self.get(name)
        if info.desired_replicas >= 1:
            return info
        return self.scale(name, 1)

    def stop(self, name: str) -> ServiceInfo:
        """Scale to 0 replicas; the service and its spec stay."""
        return self.scale(name, 0)

    def remove(self, name: str) -> None:
        """Remove a legato service (its tasks are stopped by Docker)."""
        raw = self._raw(name)
        with self._errors(name=name):
            self.client.api.remove_service(raw["ID"])

    def mark_activity(self, name: str, when: datetime | None = None) -> ServiceInfo:
        """Record work on the service (label ``legato.last_activity``).

        Only the service's labels change, not its task template, so running tasks
        are not restarted. Useful where the database does not know the activity
        (e.g. a worker that polls another source)."""
        when = (when or datetime.now(UTC)).astimezone(UTC)
        stamp = when.isoformat(timespec="seconds")

        def change(raw: Mapping[str, Any]) -> dict[str, Any] | None:
            labels = dict(raw["Spec"].get("Labels") or {})
            labels[LABEL_LAST_ACTIVITY] = stamp
            return {"labels": labels}

        return self._update(name, change)

    # -- scaling ------------------------------------------------------------------

    def apply(self, decisions: Iterable[ScalingDecision]) -> list[AppliedDecision]:
        """Apply scaling decisions one by one; a failing one does not stop the others.

        Each result says whether it was applied and the replicas before; record one
        scaling event per result (with ``decision.reason``)."""
        results: list[AppliedDecision] = []
        for decision in decisions:
            try:
                before = self.get(decision.service).desired_replicas
                self.scale(decision.service, decision.target)
            except SwarmError as exc:
                results.append(AppliedDecision(decision, ok=False, error=exc))
            else:
                results.append(AppliedDecision(decision, ok=True, previous_replicas=before))
        return results

    def wake_queue(self, queue: str, queued: int = 1) -> list[AppliedDecision]:
        """Scale up, at once, every legato service at 0 replicas that consumes
        ``queue`` (call right after enqueueing work there). Uses the policy, so the
        target respects ``legato.max_replicas``. Services already running are left
        alone; an empty list means nothing had to change."""
        loads = [
            s.to_load(queue_depth=max(queued, 1), running=0)
            for s in self.services(queue=queue)
            if s.desired_replicas == 0
        ]
        return self.apply(decide(loads, datetime.now(UTC), idle_minutes=0))

    def wait_for_running(self, name: str, replicas: int, timeout: float = 60.0) -> ServiceInfo:
        """Poll until ``running_replicas == replicas`` (or raise ``TimeoutError``)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(name)
            if info.running_replicas == replicas:
                return info
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{name}: {info.running_replicas} running, wanted {replicas} "
                    f"after {timeout:.0f}s; recent task errors: {self.task_errors(name)}"
                )
            time.sleep(0.5)

    def task_errors(self, name: str, limit: int = 3) -> list[str]:
        """The newest distinct task error messages of a service (why it is not
        running: missing image, no such network, a failing command...)."""
        raw = self._raw(name)
        with self._errors(name=name):
            tasks = self.client.api.tasks(filters={"service": raw["ID"]})
        tasks.sort(key=lambda t: (t.get("Status") or {}).get("Timestamp") or "", reverse=True)
        errors: list[str] = []
        for t in tasks:
            err = (t.get("Status") or {}).get("Err")
            if err and err not in errors:
                errors.append(err)
            if len(errors) >= limit:
                break
        return errors

    # -- internals ----------------------------------------------------------------

    def _update(
        self, name: str, change: Callable[[Mapping[str, Any]], dict[str, Any] | None]
    ) -> ServiceInfo:
        for attempt in range(5):
            raw = self._raw(name)
            kwargs = change(raw)
            if kwargs is None:
                return self._info(raw)
            try:
                with self._errors(name=name):
                    self._post_update(raw, **kwargs)
            except DockerAPIError as exc:
                if "out of sequence" in exc.message and attempt < 4:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise
            return self.get(raw["ID"])
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_update(self, raw: Mapping[str, Any], **changes: Any) -> None:
        """Send the service's *stored* spec back with ``changes`` (``labels``/``mode``).

        The SDK's ``fetch_current_spec=True`` re-reads the spec with defaults
        inserted, which Docker sees as a new task template and answers with a
        rolling restart of every task; sending the stored spec unchanged scales
        (or relabels) without touching the running tasks."""
        spec = raw["Spec"]
        self.client.api.update_service(
            raw["ID"],
            raw["Version"]["Index"],
            task_template=spec.get("TaskTemplate") or {},
            name=spec.get("Name"),
            labels=changes.get("labels", spec.get("Labels") or {}),
            mode=changes.get("mode", spec.get("Mode")),
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
            endpoint_spec=spec.get("EndpointSpec"),
            fetch_current_spec=False,
        )

    def _raw(self, name: str) -> dict[str, Any]:
        """The service's inspect document with ``ServiceStatus``; exact name or id."""
        if not isinstance(name, str) or not name or len(name) > 128:
            raise ServiceNotFound(str(name))
        self.require_manager()
        with self._errors(name=name):
            candidates = self.client.api.services(filters={"name": name}, status=True)
            match = [s for s in candidates if s.get("Spec", {}).get("Name") == name]
            if not match:
                match = [
                    s
                    for s in self.client.api.services(filters={"id": name}, status=True)
                    if s.get("ID", "").startswith(name)
                ]
        if len(match) != 1:
            raise ServiceNotFound(name)
        raw = match[0]
        labels = raw.get("Spec", {}).get("Labels") or {}
        if self.managed_only and labels.get(LABEL_MANAGED) != "true":
            raise ServiceNotFound(name)
        return raw

    def _info(self, raw: Mapping[str, Any]) -> ServiceInfo:
        spec = raw.get("Spec") or {}
        labels = dict(spec.get("Labels") or {})
        mode = spec.get("Mode") or {}
        desired = int((mode.get("Replicated") or {}).get("Replicas", 0))
        status = raw.get("ServiceStatus")
        if status is not None:
            running = int(status.get("RunningTasks", 0))
            if "Replicated" not in mode:
                desired = int(status.get("DesiredTasks", 0))
        else:  # engines before API 1.41: count the tasks
            with self._errors():
                tasks = self.client.api.tasks(
                    filters={"service": raw["ID"], "desired-state": "running"}
                )
            running = sum(1 for t in tasks if (t.get("Status") or {}).get("State") == "running")
        image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
        try:
            max_replicas = max(1, int(labels.get(LABEL_MAX_REPLICAS, "1")))
        except ValueError:
            max_replicas = 1
        updated = _parse_time(raw.get("UpdatedAt"))
        created = _parse_time(raw.get("CreatedAt"))
        activity = _parse_time(labels.get(LABEL_LAST_ACTIVITY)) or updated or created
        return ServiceInfo(
            id=raw.get("ID", ""),
            name=spec.get("Name", ""),
            image=image.split("@", 1)[0],
            kind=labels.get(LABEL_KIND),
            tier=labels.get(LABEL_TIER),
            agent=labels.get(LABEL_AGENT),
            queue=labels.get(LABEL_QUEUE),
            desired_replicas=desired,
            running_replicas=running,
            max_replicas=max_replicas,
            labels=labels,
            created_at=created,
            updated_at=updated,
            last_activity=activity,
        )

    @contextmanager
    def _errors(self, *, name: str | None = None, creating: bool = False) -> Iterator[None]:
        """Translate docker SDK / requests exceptions into :mod:`swarm.errors`."""
        try:
            yield
        except SwarmError:
            raise
        except docker.errors.NotFound as exc:
            if name is not None and not creating:
                raise ServiceNotFound(name) from exc
            raise DockerAPIError(_explain(exc), details={"status": 404}) from exc
        except docker.errors.APIError as exc:
            text = _explain(exc)
            status = exc.status_code
            lowered = text.lower()
            if status == 503 and ("swarm" in lowered or "manager" in lowered):
                state = "active" if "worker nodes" in lowered else None
                if "not part of a swarm" in lowered:
                    state = "inactive"
                raise NotASwarmManager.default(state) from exc
            if creating and (
                status == 409 or "already exists" in lowered or "name conflicts" in lowered
            ):
                raise ServiceConflict(name or "?") from exc
            raise DockerAPIError(text, details={"status": status}) from exc
        except (requests.exceptions.JSONDecodeError, ValueError) as exc:
            # e.g. an empty body from a container that stopped mid-request
            raise DockerAPIError(f"unreadable answer from Docker: {exc}") from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            docker.errors.DockerException,
            OSError,
        ) as exc:
            raise DockerUnavailable.for_endpoint(self.endpoint, exc) from exc


def _explain(exc: docker.errors.APIError) -> str:
    text = exc.explanation if isinstance(exc.explanation, str) else None
    return (text or str(exc)).strip()


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
