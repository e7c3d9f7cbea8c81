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

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.types import ServiceMode

from .errors import (
    DockerAPIError,
    DockerUnavailable,
    InvalidServiceSpec,
    NotASwarmManager,
    ServiceConflict,
    ServiceNotFound,
    SwarmError,
)
from .info import (
    AppliedDecision,
    ContainerStats,
    NodeInfo,
    ServiceInfo,
    _cpu_percent,
    _memory,
    _parse_time,
)
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
