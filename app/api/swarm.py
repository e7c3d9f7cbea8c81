"""/api/nodes and /api/swarm/*: Docker Swarm control (admin only).

Works where the process has a swarm manager's Docker socket and SWARM_ENABLED=true;
elsewhere every operation answers 503 saying what to set. Docker's errors map to
the JSON error contract: 503 unreachable / not a manager (with what to check),
404 unknown service, 409 name taken, 422 invalid spec.
"""

from __future__ import annotations

import os
import re

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select

import app.scaling as scaling
from app.api.spec import spec
from app.auth import require_admin
from app.db import db
from app.errors import NotFound, error_body
from app.models import Agent
from app.swarm_schemas import (
    SERVICE_NAME_PATTERN,
    AgentDeploy,
    ContainerStatsOut,
    EventsQuery,
    NodeList,
    NodeOut,
    NodeStatsList,
    ScalingEventList,
    ScalingEventOut,
    ServiceList,
    ServiceOut,
    ServiceRemoved,
)
from swarm import DockerAPIError, InvalidServiceSpec, ServiceSpec, SwarmError

bp = Blueprint("swarm", __name__, url_prefix="/api")

# Settings an agent's worker needs to join this deployment; copied from this process's
# environment into the services it creates (the request's `env` wins).
ENV_PASSTHROUGH = (
    "DATABASE_URL",
    "BROKER_URL",
    "BROKER_KEY_PREFIX",
    "BROKER_VISIBILITY_TIMEOUT",
    "TIERS",
    "DEFAULT_TIER",
    "AUTH_MODE",
    "LEGATO_DATA_DIR",
    "WORKER_CONCURRENCY",
    "MOVEMENT_LEASE_SECONDS",
    "PIECES_PATH",
    "SWARM_ENABLED",
)


@bp.errorhandler(SwarmError)
def _swarm_error(exc: SwarmError):
    status = exc.http_status
    code = exc.code
    if isinstance(exc, DockerAPIError):
        # A refusal none of the specific errors covers: Docker (the dependency) failed.
        status = 503
    return jsonify(error_body(code, exc.message, exc.details or None)), status


def _backend():
    return scaling.swarm_backend(current_app.extensions["legato.settings"])


def _service_name(name: str) -> str:
    if not re.match(SERVICE_NAME_PATTERN, name):
        raise NotFound("no swarm service by that name", code="service_not_found")
    return name


def _out(info) -> ServiceOut:
    return ServiceOut.model_validate(info.to_dict())


@spec.route(
    bp,
    "/nodes",
    "GET",
    summary="Swarm nodes (or the standalone host)",
    responses={200: NodeList},
    errors=(403,),
)
def list_nodes():
    require_admin()
    return NodeList(items=[NodeOut.model_validate(n.to_dict()) for n in _backend().nodes()])


@spec.route(
    bp,
    "/nodes/stats",
    "GET",
    summary="CPU and memory of legato's containers on this engine",
    responses={200: NodeStatsList},
    errors=(403,),
)
def node_stats():
    require_admin()
    stats = _backend().node_stats()
    return NodeStatsList(items=[ContainerStatsOut.model_validate(s.to_dict()) for s in stats])


@spec.route(
    bp,
    "/swarm/services",
    "GET",
    summary="legato's services: replicas, queue, last activity",
    responses={200: ServiceList},
    errors=(403,),
)
def list_services():
    require_admin()
    return ServiceList(items=[_out(s) for s in _backend().services()])


@spec.route(
    bp,
    "/swarm/agents",
    "GET",
    summary="Dedicated agent services with their idle minutes",
    responses={200: ServiceList},
    errors=(403,),
)
def list_agent_services():
    require_admin()
    return ServiceList(items=[_out(s) for s in _backend().services(kind="agent")])


@spec.route(
    bp,
    "/swarm/agents",
    "POST",
    summary="Deploy a service for one of your registered agents",
    body=AgentDeploy,
    responses={201: ServiceOut},
    errors=(403, 404, 409),
)
def deploy_agent(body: AgentDeploy):
    who = require_admin()
    backend = _backend()  # 503 first when swarm control is off here
    agent = db.session.scalar(
        select(Agent).where(Agent.owner_id == who.owner, Agent.name == body.agent)
    )
    db.session.rollback()
    if agent is None:
        raise NotFound(f"no agent {body.agent!r} registered for you", code="agent_not_found")
    settings = current_app.extensions["legato.settings"]
    env = {k: os.environ[k] for k in ENV_PASSTHROUGH if os.environ.get(k)}
    env.update({k: v for k, v in os.environ.items() if k.startswith("LLM_") and v})
    env.update(body.env)
    networks = body.networks
    if networks is None:
        networks = [settings.swarm_network] if settings.swarm_network else []
    spec_ = ServiceSpec.for_agent(
        agent.name,
        body.image or settings.worker_image,
        owner=agent.owner_id,
        tier=agent.tier,
        command=body.command,
        replicas=body.replicas,
        networks=networks,
        env=env,
        max_replicas=max(1, min(settings.scale_max_replicas, max(body.replicas, 1))),
    )
    try:
        info = backend.create_service(spec_)
    except DockerAPIError as exc:
        status = (exc.details or {}).get("status")
        lowered = exc.message.lower()
        # An unknown network (Docker says 500 "network x not found") or a malformed
        # reference is the request's fault, not Docker's.
        if status in (400, 404) or ("network" in lowered and "not found" in lowered):
            raise InvalidServiceSpec(exc.message, field="networks") from exc
        raise
    scaling.record_event(
        info.name,
        "deploy",
        "api",
        f"deployed for agent {agent.name!r} (tier {agent.tier}) with {body.replicas} replica(s)",
        to_replicas=body.replicas,
        actor=who.owner,
    )
    return _out(info), 201


def _scale_by_admin(name: str, action: str):
    who = require_admin()
    backend = _backend()
    before = backend.get(_service_name(name)).desired_replicas
    info = backend.start(name) if action == "start" else backend.stop(name)
    scaling.record_event(
        info.name,
        action,
        "api",
        f"{action} requested by {who.owner}",
        from_replicas=before,
        to_replicas=info.desired_replicas,
        actor=who.owner,
    )
    if action == "stop" or info.desired_replicas == 0:
        scaling.refresh_zero_hint(current_app.extensions["legato.settings"], backend)
    return _out(info)


@spec.route(
    bp,
    "/swarm/services/<name>/start",
    "POST",
    summary="Start a service (scale to 1; a running one keeps its replicas)",
    responses={200: ServiceOut},
    errors=(403, 404, 409),
)
def start_service(name: str):
    return _scale_by_admin(name, "start")


@spec.route(
    bp,
    "/swarm/services/<name>/stop",
    "POST",
    summary="Stop a service (scale to 0; it stays deployed)",
    responses={200: ServiceOut},
    errors=(403, 404, 409),
)
def stop_service(name: str):
    return _scale_by_admin(name, "stop")


@spec.route(
    bp,
    "/swarm/services/<name>",
    "DELETE",
    summary="Remove a service",
    responses={200: ServiceRemoved},
    errors=(403, 404),
)
def remove_service(name: str):
    who = require_admin()
    backend = _backend()
    info = backend.get(_service_name(name))
    backend.remove(info.name)
    scaling.record_event(
        info.name,
        "remove",
        "api",
        f"removed by {who.owner}",
        from_replicas=info.desired_replicas,
        actor=who.owner,
    )
    return ServiceRemoved(service=info.name, removed=True)


@spec.route(
    bp,
    "/swarm/events",
    "GET",
    summary="Scaling history, newest first, with the reason of each action",
    query=EventsQuery,
    responses={200: ScalingEventList},
    errors=(403,),
)
def list_scaling_events(query: EventsQuery):
    require_admin()
    # History lives in the database, so it is readable even where Docker is not.
    rows = scaling.list_events(service=query.service, limit=query.limit, before=query.before)
    return ScalingEventList(items=[ScalingEventOut.model_validate(r.to_dict()) for r in rows])
