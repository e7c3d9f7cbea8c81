"""Helpers shared by the swarm tests (names, specs, waiting)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable

from swarm import ServiceSpec

TEST_IMAGE = os.environ.get("LEGATO_TEST_IMAGE", "legato-test/busybox:latest")
RUN_PREFIX = f"lt{uuid.uuid4().hex[:6]}"
IN_CI = os.environ.get("CI", "").lower() == "true"


def sleeper_agent(
    name: str, agent: str = "reviewer", owner: str = "swarm-tests", **kw
) -> ServiceSpec:
    """An agent service running ``sleep`` in the busybox test image.

    busybox ``sleep`` as PID 1 ignores SIGTERM, so keep the grace period short."""
    kw.setdefault("command", ["sleep", "3600"])
    kw.setdefault("stop_grace_period_s", 1)
    kw.setdefault("restart_delay_s", 1)
    return ServiceSpec.for_agent(agent, TEST_IMAGE, name=name, owner=owner, **kw)


def sleeper_worker(name: str, tier: str = "fast", **kw) -> ServiceSpec:
    kw.setdefault("command", ["sleep", "3600"])
    kw.setdefault("stop_grace_period_s", 1)
    kw.setdefault("restart_delay_s", 1)
    return ServiceSpec.for_tier(tier, TEST_IMAGE, name=name, **kw)


def wait_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(0.3)


def closed_port() -> int:
    """A loopback TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
