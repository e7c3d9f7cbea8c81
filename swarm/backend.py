"""Docker Swarm backend: nodes, container stats and legato's services, over the docker SDK.

Usage (e.g. from the Flask API or the beat task)::

    from swarm import SwarmBackend, ServiceSpec

    backend = SwarmBackend()                     # DOCKER_HOST or the default socket
    spec = ServiceSpec.for_agent("reviewer", image="legato:latest", owner="alice")
    backend.create_service(spec)                 # legato-agent-reviewer-<key>
    for svc in backend.services():               # legato-managed services only
        print(svc.name, svc.desired_replicas, svc.running_replicas, svc.last_activity)
    backend.stop(spec.name)                      # scale to 0
    backend.start(spec.name)                     # scale to 1
    backend.remove(spec.name)

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
``legato.queue``        the Celery queue consumed: ``agent.<name>.<key>`` or the tier
``legato.max_replicas`` upper bound for automatic scale-up (default 1)
``legato.last_activity`` ISO-8601 time of the last work (see ``mark_activity``)
======================  ===============================================

The same labels are put on the containers, so :meth:`SwarmBackend.node_stats` can
find legato containers outside swarm mode (Compose) too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import docker
from docker.types import ServiceMode

from .connection import DockerConnection
from .documents import (
    container_stats,
    newest_task_errors,
    node_info,
    service_info,
    standalone_node,
    update_kwargs,
)
from .errors import (
    DockerAPIError,
    InvalidServiceSpec,
    NotASwarmManager,
    ServiceConflict,
    ServiceNotFound,
    SwarmError,
)
from .info import AppliedDecision, ContainerStats, NodeInfo, ServiceInfo

# Re-exported for importers that still read these helpers from here.
from .info import _cpu_percent as _cpu_percent
from .info import _memory as _memory
from .info import _parse_time as _parse_time
from .policy import ScalingDecision, decide
from .specs import (
    LABEL_AGENT,
    LABEL_KIND,
    LABEL_LAST_ACTIVITY,
    LABEL_MANAGED,
    LABEL_MAX_REPLICAS,
    LABEL_QUEUE,
    LABEL_TIER,
    HealthcheckSpec,
    ServiceSpec,
    _check_int,
    agent_queue,
    agent_service_name,
    worker_service_name,
)

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


class SwarmBackend(DockerConnection):
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

    The connection, ``ping``, ``swarm_state`` and ``require_manager`` come from
    :class:`swarm.connection.DockerConnection`.

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
        super().__init__(client, base_url=base_url, timeout=timeout)
        self.managed_only = managed_only

    # -- nodes and stats ----------------------------------------------------------

    def nodes(self) -> list[NodeInfo]:
        """The swarm's nodes, or the standalone host (``role="standalone"``) when the
        engine is not in swarm mode. A swarm *worker* node cannot list the swarm and
        raises :class:`NotASwarmManager`."""
        state, info = self._state()
        if state["state"] != "active":
            return [standalone_node(info)]
        if not state["manager"]:
            raise NotASwarmManager.default(state["state"])
        with self._errors():
            raw = self.client.api.nodes()
        nodes = [node_info(n) for n in raw]
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
        try:
            with self._errors():
                raw = self.client.api.stats(container["Id"], stream=False)
        except DockerAPIError:
            return None  # the container went away between list and stats
        return container_stats(container, raw)

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
        return newest_task_errors(tasks, limit)

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
                    # The stored spec goes back, never the SDK's re-read one (see
                    # update_kwargs): that would restart every task.
                    self.client.api.update_service(
                        raw["ID"], raw["Version"]["Index"], **update_kwargs(raw, **kwargs)
                    )
            except DockerAPIError as exc:
                if "out of sequence" in exc.message and attempt < 4:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise
            return self.get(raw["ID"])
        raise AssertionError("unreachable")  # pragma: no cover

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
        tasks = None
        if raw.get("ServiceStatus") is None:  # engines before API 1.41: count the tasks
            with self._errors():
                tasks = self.client.api.tasks(
                    filters={"service": raw["ID"], "desired-state": "running"}
                )
        return service_info(raw, tasks)
