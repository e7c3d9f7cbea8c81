#!/usr/bin/env python3
"""Container healthcheck for every legato role (the image's HEALTHCHECK runs this).

The role comes from ``LEGATO_ROLE`` (default ``api``):

* ``api``    -- ``GET http://127.0.0.1:$PORT/healthz`` must answer 2xx (PORT default 8000)
* ``flower`` -- ``GET http://127.0.0.1:$FLOWER_PORT/healthcheck`` must answer 2xx
                (FLOWER_PORT default 5555; Flower's own unauthenticated health URL)
* ``worker``, ``beat`` and anything else -- the broker in ``BROKER_URL`` accepts a TCP
  connection (a worker or beat that cannot reach its broker cannot do its job);
  with no network broker configured (the embedded SQLite default) this passes.

Exit status 0 = healthy, 1 = unhealthy (what Docker's HEALTHCHECK expects). Only the
standard library is used, and nothing secret is printed (the broker URL's password
never appears in the output).
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT = float(os.environ.get("HEALTHCHECK_TIMEOUT", "4"))
DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672}


def check_http(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            return 200 <= resp.status < 300, f"{url} -> {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} -> {exc.code}"
    except OSError as exc:
        return False, f"{url} -> {type(exc).__name__}: {exc}"


def check_broker(broker_url: str) -> tuple[bool, str]:
    parts = urlsplit(broker_url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in DEFAULT_PORTS:
        return True, f"no network broker to check ({scheme or 'unset'})"
    host = parts.hostname or "localhost"
    port = parts.port or DEFAULT_PORTS[scheme]
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True, f"broker {host}:{port} reachable"
    except OSError as exc:
        return False, f"broker {host}:{port} unreachable: {exc}"


def main() -> int:
    role = os.environ.get("LEGATO_ROLE", "api").strip().lower()
    if role == "api":
        port = os.environ.get("PORT", "8000")
        ok, what = check_http(f"http://127.0.0.1:{port}/healthz")
    elif role == "flower":
        port = os.environ.get("FLOWER_PORT", "5555")
        ok, what = check_http(f"http://127.0.0.1:{port}/healthcheck")
    else:
        ok, what = check_broker(os.environ.get("BROKER_URL", ""))
    print(f"{role}: {'ok' if ok else 'FAIL'}: {what}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
