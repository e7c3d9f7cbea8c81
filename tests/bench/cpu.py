"""CPU accounting: seconds of CPU per part of the system, from /proc, between snapshots.

PostgreSQL does its work in one backend process per connection; the benchmark lists
the backends connected to its database (pg_stat_activity, by application_name) and
reads their CPU from /proc like any other process, so a movement's database cost is
counted where it is spent, not guessed from statement counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WORKER = "worker"
PG_WORKER = "PostgreSQL for the worker"
PG_API = "PostgreSQL for the API"


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent per part of the system between two snapshots.

    `backends` lists (pid, application_name) of the PostgreSQL backends serving the
    run; those named `api_app_name` serve the submitting API, the others the worker.
    A backend that appears between the snapshots counts from zero (it was born then);
    one that ended in between is missed (the worker's pool keeps its connections).
    """

    def __init__(
        self,
        worker_pid: int,
        backends: Callable[[], list[tuple[int, str]]],
        api_app_name: str,
        others: dict[str, int | None],
    ):
        self.worker_pid, self.backends, self.api = worker_pid, backends, api_app_name
        self.others = others

    def snapshot(self) -> dict[str, dict[int, float | None]]:
        backends = self.backends()
        groups: dict[str, list[int]] = {
            WORKER: [self.worker_pid],
            PG_WORKER: [p for p, app in backends if app != self.api],
            PG_API: [p for p, app in backends if app == self.api],
            **{name: [pid] for name, pid in self.others.items() if pid},
        }
        snap = {name: {pid: proc_cpu(pid) for pid in pids} for name, pids in groups.items()}
        t = os.times()
        snap["bench process (submits, polls)"] = {os.getpid(): t.user + t.system}
        return snap

    @staticmethod
    def delta(before: dict, after: dict) -> dict[str, float]:
        out = {}
        for name, pids in after.items():
            total = 0.0
            for pid, cpu in pids.items():
                if cpu is None:
                    continue
                start = before.get(name, {}).get(pid)
                total += cpu - (start or 0.0)
            out[name] = total
        return out
