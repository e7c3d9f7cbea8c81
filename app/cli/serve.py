"""Serving the API with gunicorn's threaded worker (event streams hold a thread each), and
the rule for which address it may listen on."""

from __future__ import annotations

import ipaddress
import socket

from gunicorn.app.base import BaseApplication

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


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        return create_app()


def serve(host: str, port: int, *, workers: int, threads: int) -> None:
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            # gthread heartbeats from its main loop, so long event streams are fine.
            "timeout": 60,
            "graceful_timeout": 10,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
        }
    ).run()
