"""Serving the API: gunicorn with gevent workers, and the rule for which address it may
listen on.

A follower of an event stream waits most of its life; on gevent that wait is a
greenlet, not a request thread, so however many clients follow jobs, `/healthz` and
every other request still get served (up to ``connections`` clients per worker). The
worker monkey-patches the standard library before it loads the app; psycopg 3 notices
and waits cooperatively, as long as it was not imported before (checked on load).
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)

WORKER_CLASS = "gevent"
LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"


class InsecureBind(ValueError):
    """AUTH_MODE=none on an address other machines can reach, not explicitly allowed."""


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(
        ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_loopback for info in infos
    )


def bind_host(requested: str | None, *, auth_mode: str, allowed: bool) -> str:
    """The address to listen on. Without authentication every request is the admin, so
    AUTH_MODE=none listens on loopback only unless the operator says otherwise
    (--insecure or ALLOW_INSECURE_BIND=true)."""
    if auth_mode != "none":
        return requested or ANY
    if requested is None:
        return LOOPBACK
    if allowed or is_loopback(requested):
        return requested
    raise InsecureBind(
        f"refusing to listen on {requested} with AUTH_MODE=none: anyone who can reach it "
        "would be the admin. Use AUTH_MODE=token (and `legato token create`), listen on "
        "127.0.0.1, or pass --insecure (ALLOW_INSECURE_BIND=true) if you really mean it."
    )


class ApiServer(BaseApplication):
    """gunicorn, configured in code, serving ``app.create_app()``."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        flask_app = create_app()
        _check_cooperative_database_waits()
        return flask_app


def server_options(host: str, port: int, *, workers: int, connections: int) -> dict:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "worker_connections": connections,
        # The gevent worker heartbeats from its own greenlet: long streams are fine.
        "timeout": 60,
        "graceful_timeout": 10,
        # gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl):
        # several API processes on a host (tests, `legato run` next to a deployment)
        # would take it from each other. Nothing of ours uses it.
        "control_socket_disable": True,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
    }


def serve(host: str, port: int, *, workers: int, connections: int) -> None:
    ApiServer(server_options(host, port, workers=workers, connections=connections)).run()


def _check_cooperative_database_waits() -> None:
    try:
        from psycopg import waiting
    except ImportError:
        return
    if waiting.wait is getattr(waiting, "wait_c", None):
        log.warning(
            "psycopg was imported before gevent patched the standard library: "
            "database waits will block this worker"
        )
