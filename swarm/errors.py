"""Errors raised by :mod:`swarm`.

Every error carries the HTTP status the API should answer with (``http_status``)
and a stable machine-readable ``code``, so a Flask error handler can turn any
:class:`SwarmError` into ``{"error": {"code": ..., "message": ..., "details": ...}}``
without knowing the individual classes::

    @bp.errorhandler(SwarmError)
    def _swarm_error(exc):
        return jsonify(error=exc.to_dict()), exc.http_status

Messages never contain credentials: they name the Docker endpoint (a socket path
or ``tcp://host:port``) and what to check, nothing else.
"""

from __future__ import annotations

import re
from typing import Any


class SwarmError(Exception):
    """Base class of every error raised by the swarm backend."""

    http_status: int = 500
    code: str = "swarm_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The error as the API's JSON error object."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class DockerUnavailable(SwarmError):
    """The Docker daemon cannot be reached (no socket, daemon down, timeout)."""

    http_status = 503
    code = "docker_unavailable"

    @classmethod
    def for_endpoint(cls, endpoint: str | None, cause: object = None) -> DockerUnavailable:
        where = _redact(endpoint) if endpoint else "the default socket unix:///var/run/docker.sock"
        msg = (
            f"Docker is unreachable at {where}. Check that dockerd is running, that "
            "/var/run/docker.sock is mounted into this container (or DOCKER_HOST points "
            "at a reachable daemon), and that this process may read the socket."
        )
        details: dict[str, Any] = {"endpoint": where}
        if cause is not None:
            details["cause"] = _short(cause)
        return cls(msg, details=details)


class NotASwarmManager(SwarmError):
    """The daemon answers but is not a manager of an active swarm."""

    http_status = 503
    code = "not_swarm_manager"

    @classmethod
    def default(cls, state: str | None = None) -> NotASwarmManager:
        if state in (None, "", "inactive"):
            hint = "This Docker engine is not in swarm mode: run `docker swarm init` on it"
        else:
            hint = (
                f"This Docker engine is a swarm node in state {state!r} but not a manager: "
                "point DOCKER_HOST at a manager node (or mount a manager's socket), or "
                "promote this node with `docker node promote`"
            )
        return cls(
            hint + " before using legato's swarm control.",
            details={"swarm_state": state or "inactive"},
        )


class ServiceNotFound(SwarmError):
    """No service with that name (or id) exists."""

    http_status = 404
    code = "service_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No swarm service named {name!r}.", details={"service": name})
        self.name = name


class ServiceConflict(SwarmError):
    """The name is already taken, or the service cannot do what was asked
    (e.g. scaling a global-mode service)."""

    http_status = 409
    code = "service_conflict"

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(
            message or f"A swarm service named {name!r} already exists.",
            details={"service": name},
        )
        self.name = name


class InvalidServiceSpec(SwarmError, ValueError):
    """A :class:`swarm.backend.ServiceSpec` (or a scale request) is invalid.

    Raised before anything is sent to Docker."""

    http_status = 422
    code = "invalid_service_spec"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, details={"field": field} if field else None)
        self.field = field


class DockerAPIError(SwarmError):
    """Docker refused a request for a reason none of the other classes covers."""

    http_status = 502
    code = "docker_error"


def _redact(url: str) -> str:
    """Drop any ``user:password@`` part of an endpoint URL."""
    return re.sub(r"//[^/@\s]*@", "//***@", url)


def _short(cause: object, limit: int = 300) -> str:
    text = _redact(str(cause).strip()) or type(cause).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
