"""`legato health`: can this process do its job? Exit 0 if so, 1 if not.

What is checked depends on the role (``--role``, default ``$LEGATO_ROLE``):

* ``worker``: the broker answers ``PING``, the database answers ``SELECT 1``, and the
  Celery worker's heartbeat file (``LEGATO_HEARTBEAT_FILE``) is younger than
  ``LEGATO_HEARTBEAT_MAX_AGE`` (60 s). ``legato worker`` passes the path to the worker,
  which touches it every ``LEGATO_HEARTBEAT_INTERVAL`` (10 s) from its own timer once it
  is ready (tasks/heartbeat.py), so a worker that never got ready, or that hangs,
  fails even while the broker and database answer;
* ``api``: ``GET /healthz`` on ``$PORT``; ``flower``: ``GET /healthcheck`` on ``$FLOWER_PORT``;
* ``migrate``: nothing (a one-shot task);
* anything else (``beat``, the default): the broker and the database, and the heartbeat if
  the file exists (the stack's beat also runs the maintenance worker).

The image's ``HEALTHCHECK`` and the Kubernetes exec probes run this file directly as a
script (``python -I /usr/local/bin/legato-healthcheck``), not as ``legato health``:
importing the web application would cost about a second of CPU at every interval. So
the module imports only the standard library at the top, and the one database or
broker client a check needs inside that check. Nothing secret is printed.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HEARTBEAT_INTERVAL = 10.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_AGE = 60.0
DEFAULT_ROLE = "beat"  # the broker and the database, and a heartbeat if there is one
_PORTS = {"amqp": 5672, "amqps": 5671, "pyamqp": 5672}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def heartbeat_path(env: Mapping[str, str] = os.environ) -> Path:
    """The file a worker touches while it runs (``LEGATO_HEARTBEAT_FILE``)."""
    default = Path(tempfile.gettempdir()) / "legato-worker.heartbeat"
    return Path(env.get("LEGATO_HEARTBEAT_FILE") or default)


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


# -- the checks ----------------------------------------------------------------------


def check_broker(url: str | None, timeout: float) -> Check:
    if not url or url.startswith("sqla+"):
        return Check("broker", True, "embedded (the database is the broker)")
    scheme = urlsplit(url).scheme.split("+")[0]
    try:
        if scheme in ("redis", "rediss"):
            import redis

            client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            try:
                client.ping()
            finally:
                client.close()
            return Check("broker", True, f"{safe_url(url)} answers PING")
        parts = urlsplit(url)
        port = parts.port or _PORTS.get(scheme)
        if not parts.hostname or not port:
            return Check("broker", False, f"cannot tell where {safe_url(url)} is")
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return Check("broker", True, f"{parts.hostname}:{port} accepts connections")
    except Exception as exc:
        return Check("broker", False, f"{safe_url(url)}: {_reason(exc)}")


def check_database(url: str | None, timeout: float) -> Check:
    if not url or url.startswith("sqlite"):
        return Check("database", True, "embedded SQLite (nothing to reach)")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        return Check("database", False, f"unsupported database URL scheme {scheme!r}")
    dsn = "postgresql://" + rest  # what libpq understands, whatever SQLAlchemy driver is named
    try:
        connect = _pg_connect()
        conn = connect(dsn, connect_timeout=max(1, round(timeout)))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()
        return Check("database", True, f"{safe_url(url)} answers SELECT 1")
    except Exception as exc:
        return Check("database", False, f"{safe_url(url)}: {_reason(exc)}")


def _pg_connect() -> Callable:
    import psycopg

    return psycopg.connect


def check_heartbeat(path: Path, max_age: float, *, required: bool) -> Check | None:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        if not required:
            return None
        return Check("heartbeat", False, f"no {path}: the Celery worker is not (yet) ready")
    if age > max_age:
        return Check("heartbeat", False, f"{path} is {age:.0f} s old (limit {max_age:g} s)")
    return Check("heartbeat", True, f"worker alive ({age:.0f} s ago)")


def check_http(url: str, timeout: float) -> Check:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return Check("http", 200 <= resp.status < 300, f"{url} -> {resp.status}")
    except urllib.error.HTTPError as exc:
        return Check("http", False, f"{url} -> {exc.code}")
    except Exception as exc:
        return Check("http", False, f"{url}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def run_checks(role: str, env: Mapping[str, str] = os.environ) -> list[Check]:
    """The checks for ``role``, run now, with settings from ``env``."""
    timeout = float(env.get("HEALTHCHECK_TIMEOUT") or DEFAULT_TIMEOUT)
    role = role.strip().lower()
    if role == "api":
        return [check_http(f"http://127.0.0.1:{env.get('PORT') or 8000}/healthz", timeout)]
    if role == "flower":
        port = env.get("FLOWER_PORT") or 5555
        return [check_http(f"http://127.0.0.1:{port}/healthcheck", timeout)]
    if role == "migrate":
        return [Check("migrate", True, "a one-shot task: nothing to check")]
    checks = [
        check_broker(env.get("BROKER_URL"), timeout),
        check_database(env.get("DATABASE_URL"), timeout),
    ]
    max_age = float(env.get("LEGATO_HEARTBEAT_MAX_AGE") or DEFAULT_MAX_AGE)
    beat = check_heartbeat(heartbeat_path(env), max_age, required=role == "worker")
    return checks + ([beat] if beat else [])


def report(role: str, checks: list[Check]) -> tuple[int, list[str]]:
    lines = [f"{role}: {c.name}: {'ok' if c.ok else 'FAIL'}: {c.detail}" for c in checks]
    return (0 if all(c.ok for c in checks) else 1), lines


# -- entry points ----------------------------------------------------------------------


def main() -> int:
    """The container health check: role from ``LEGATO_ROLE``, one line per check."""
    role = os.environ.get("LEGATO_ROLE") or DEFAULT_ROLE
    code, lines = report(role, run_checks(role))
    print("; ".join(lines), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
else:
    import click

    from app.cli.group import cli

    @cli.command()
    @click.option(
        "--role",
        default=lambda: os.environ.get("LEGATO_ROLE") or DEFAULT_ROLE,
        show_default="$LEGATO_ROLE, else beat",
        help="worker, beat, api, flower or migrate.",
    )
    def health(role: str) -> None:
        """Check what this process needs (broker, database, worker heartbeat); exit 1 if not."""
        code, lines = report(role, run_checks(role))
        for line in lines:
            click.echo(line, err=code != 0)
        sys.exit(code)
