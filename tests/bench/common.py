"""What every part of `make bench` shares: where things are, the knobs, the one failure."""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TIER = "fast"
LINEAR_PIECE, SINGLE_PIECE = "bench-linear", "bench-single"
# Connections left for everyone else while we run (other test sessions, psql, ...).
PG_SAFETY_MARGIN = 15
STALL_SECONDS = 60.0
# What Celery logs when a task body raises (legato's task should never do that).
TASK_RAISED = b"raised unexpected"
API_APP_NAME = "legato-bench-api"
MONITOR_APP_NAME = "legato-bench-monitor"
# How often the benchmark looks for ended jobs in scenario 1 (both systems alike).
POLL_SECONDS = 0.005


class BenchFailure(Exception):
    """The benchmark cannot produce meaningful figures; the message says why."""


def env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BenchFailure(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise BenchFailure(f"{name} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise BenchFailure(f"{name}={raw!r} is not a number") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
