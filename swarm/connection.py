"""The Docker engine behind :class:`swarm.backend.SwarmBackend`: a lazily connected
docker SDK client, the engine's swarm state, and the SDK's exceptions translated into
:mod:`swarm.errors`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests.exceptions

from .errors import (
    DockerAPIError,
    DockerUnavailable,
    NotASwarmManager,
    ServiceConflict,
    ServiceNotFound,
    SwarmError,
)


class DockerConnection:
    """A Docker engine, connected on first use.

    Args:
        client: an existing ``docker.DockerClient``; if omitted, one is created on
            first use from ``base_url`` or, without it, from the environment
            (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``). Creating
            the connection never touches the network, so an app can build it at
            start-up while Docker is down; each call then raises
            :class:`DockerUnavailable`, and a later call retries the connection.
        base_url: e.g. ``unix:///var/run/docker.sock`` or ``tcp://manager:2375``.
        timeout: seconds for each Docker API request.
    """

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._base_url = base_url
        self._timeout = timeout

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
