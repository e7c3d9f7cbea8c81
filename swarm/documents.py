"""Docker's JSON documents (``/info``, node and service inspect, container stats, task
lists) read into :mod:`swarm.info` records, and a stored service spec turned back into
an update request. Pure functions; :class:`swarm.backend.SwarmBackend` fetches and sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .info import ContainerStats, NodeInfo, ServiceInfo, _cpu_percent, _memory, _parse_time
from .specs import (
    LABEL_AGENT,
    LABEL_KIND,
    LABEL_LAST_ACTIVITY,
    LABEL_MAX_REPLICAS,
    LABEL_QUEUE,
    LABEL_TIER,
)


def standalone_node(info: Mapping[str, Any]) -> NodeInfo:
    """The host itself, from ``GET /info`` of an engine not in swarm mode."""
    return NodeInfo(
        id=info.get("ID") or "",
        hostname=info.get("Name") or "",
        role="standalone",
        availability="active",
        state="ready",
        engine_version=info.get("ServerVersion"),
    )


def node_info(raw: Mapping[str, Any]) -> NodeInfo:
    spec = raw.get("Spec") or {}
    status = raw.get("Status") or {}
    mgr = raw.get("ManagerStatus") or {}
    desc = raw.get("Description") or {}
    return NodeInfo(
        id=raw.get("ID", ""),
        hostname=desc.get("Hostname") or "",
        role=spec.get("Role") or "",
        availability=spec.get("Availability") or "",
        state=status.get("State") or "",
        addr=status.get("Addr") or None,
        manager_addr=mgr.get("Addr") or None,
        leader=bool(mgr.get("Leader")),
        engine_version=(desc.get("Engine") or {}).get("EngineVersion"),
    )


def container_stats(container: Mapping[str, Any], raw: Mapping[str, Any]) -> ContainerStats:
    """One container (as listed by ``GET /containers/json``) with its stats sample."""
    cid = container["Id"]
    labels = container.get("Labels") or {}
    name = ((container.get("Names") or ["/" + cid[:12]])[0]).lstrip("/")
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


def service_info(
    raw: Mapping[str, Any], running_tasks: Iterable[Mapping[str, Any]] | None = None
) -> ServiceInfo:
    """A service inspect document (with ``ServiceStatus``) as a :class:`ServiceInfo`.

    Engines before API 1.41 send no ``ServiceStatus``; the replicas running are then
    counted from ``running_tasks``, the service's tasks with desired state running."""
    spec = raw.get("Spec") or {}
    labels = dict(spec.get("Labels") or {})
    mode = spec.get("Mode") or {}
    desired = int((mode.get("Replicated") or {}).get("Replicas", 0))
    status = raw.get("ServiceStatus")
    if status is not None:
        running = int(status.get("RunningTasks", 0))
        if "Replicated" not in mode:
            desired = int(status.get("DesiredTasks", 0))
    else:
        running = sum(
            1 for t in running_tasks or () if (t.get("Status") or {}).get("State") == "running"
        )
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


def newest_task_errors(tasks: Iterable[Mapping[str, Any]], limit: int) -> list[str]:
    """The newest distinct ``Status.Err`` messages of a service's tasks."""
    ordered = sorted(
        tasks, key=lambda t: (t.get("Status") or {}).get("Timestamp") or "", reverse=True
    )
    errors: list[str] = []
    for t in ordered:
        err = (t.get("Status") or {}).get("Err")
        if err and err not in errors:
            errors.append(err)
        if len(errors) >= limit:
            break
    return errors


def update_kwargs(raw: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Keyword arguments for ``APIClient.update_service(id, version, ...)`` that send
    the service's *stored* spec back with ``changes`` (``labels``/``mode``).

    The SDK's ``fetch_current_spec=True`` re-reads the spec with defaults inserted,
    which Docker sees as a new task template and answers with a rolling restart of
    every task; sending the stored spec unchanged scales (or relabels) without
    touching the running tasks."""
    spec = raw["Spec"]
    return {
        "task_template": spec.get("TaskTemplate") or {},
        "name": spec.get("Name"),
        "labels": changes.get("labels", spec.get("Labels") or {}),
        "mode": changes.get("mode", spec.get("Mode")),
        "update_config": spec.get("UpdateConfig"),
        "rollback_config": spec.get("RollbackConfig"),
        "endpoint_spec": spec.get("EndpointSpec"),
        "fetch_current_spec": False,
    }
