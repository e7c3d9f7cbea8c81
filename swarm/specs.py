"""What legato asks Docker Swarm for: service names, labels and service specs (no I/O)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from docker.types import Healthcheck, Resources, RestartPolicy, ServiceMode, UpdateConfig

from .errors import (
    InvalidServiceSpec,
)

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
AGENT_KEY_CHARS = 10


# --------------------------------------------------------------------------- naming


def _slug(text: str) -> str:
    slug = _SLUG_STRIP.sub("-", text.strip().lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


def agent_key(agent: str, *, owner: str) -> str:
    """A short stable hash of (owner, agent name): agent names are unique per owner
    only, so this keeps two owners' agents on separate queues and services."""
    return hashlib.sha256(f"{owner}\x00{agent}".encode()).hexdigest()[:AGENT_KEY_CHARS]


def agent_service_name(agent: str, *, owner: str) -> str:
    """The swarm service name for a dedicated agent: ``legato-agent-<slug>-<key>``.

    The slug is the agent's name lower-cased, anything but ``[a-z0-9-]`` turned into
    ``-`` and cut so the whole stays within Docker's 63 characters; ``<key>`` is
    :func:`agent_key`, so neither another owner's agent of the same name nor a name
    that slugs alike (``a_b`` and ``a-b``) can take the same service."""
    slug = _slug(agent)
    if not slug:
        raise InvalidServiceSpec(f"agent name {agent!r} has no usable characters", field="agent")
    room = 63 - len("legato-agent--") - AGENT_KEY_CHARS
    return f"legato-agent-{slug[:room].rstrip('-')}-{agent_key(agent, owner=owner)}"


def worker_service_name(tier: str) -> str:
    """The swarm service name for a tier's worker service: ``legato-worker-<tier>``."""
    slug = _slug(tier)
    if not slug:
        raise InvalidServiceSpec(f"tier name {tier!r} has no usable characters", field="tier")
    return f"legato-worker-{slug}"[:63].rstrip("-")


def agent_queue(agent: str, *, owner: str) -> str:
    """The Celery queue of a dedicated agent: ``agent.<name>.<key>`` (:func:`agent_key`).

    At most 64 characters (a movement run's tier column): the name is cut to fit, the
    key keeps it unique."""
    room = 64 - len("agent..") - AGENT_KEY_CHARS
    return f"agent.{agent[:room]}.{agent_key(agent, owner=owner)}"


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
        owner: the agent's owner; required for agents (names are unique per owner).
        queue: queue consumed (default :func:`agent_queue` or the tier).
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
    owner: str | None = None
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
        if self.kind == "agent" and not self.owner:
            raise InvalidServiceSpec("an agent service needs the agent's owner", field="owner")
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
        cls, agent: str, image: str, *, owner: str, tier: str | None = None, **overrides: Any
    ) -> ServiceSpec:
        """A dedicated service for ``owner``'s ``agent``: name :func:`agent_service_name`,
        queue :func:`agent_queue`, env ``AGENT_ID=<agent>``. ``overrides`` are any other
        :class:`ServiceSpec` fields (``command``, ``replicas``, ``networks``, ...)."""
        overrides.setdefault("name", agent_service_name(agent, owner=owner))
        return cls(image=image, kind="agent", agent=agent, owner=owner, tier=tier, **overrides)

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
            return agent_queue(self.agent or "", owner=self.owner or "")
        return self.tier or ""

    def default_command(self) -> list[str]:
        """``legato worker --tier <queue>``: the tier for a tier worker,
        ``agent.<name>.<key>`` for an agent (``legato worker`` accepts ``agent.*`` queues)."""
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
