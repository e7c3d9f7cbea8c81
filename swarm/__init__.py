"""Container backends (Docker Swarm via the docker SDK) and the pure scaling policy.

Imports only the docker SDK and its own modules (never ``app`` or ``tasks``).
See :mod:`swarm.backend`, :mod:`swarm.policy` and :mod:`swarm.errors`.
"""

from .backend import (
    AppliedDecision,
    ContainerStats,
    HealthcheckSpec,
    NodeInfo,
    ServiceInfo,
    ServiceSpec,
    SwarmBackend,
    agent_queue,
    agent_service_name,
    worker_service_name,
)
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
from .specs import agent_key

__all__ = [
    "AppliedDecision",
    "ContainerStats",
    "DockerAPIError",
    "DockerUnavailable",
    "HealthcheckSpec",
    "InvalidServiceSpec",
    "NodeInfo",
    "NotASwarmManager",
    "ScalingDecision",
    "ServiceConflict",
    "ServiceInfo",
    "ServiceLoad",
    "ServiceNotFound",
    "ServiceSpec",
    "SwarmBackend",
    "SwarmError",
    "agent_key",
    "agent_queue",
    "agent_service_name",
    "decide",
    "worker_service_name",
]
