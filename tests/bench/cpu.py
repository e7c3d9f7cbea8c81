"""CPU accounting: seconds of CPU per part of the system, from /proc, between snapshots.

PostgreSQL does its work in one backend process per connection; the benchmark lists
the backends connected to its database (pg_stat_activity, by application_name) and
reads their CPU from /proc like any other process, so a movement's database cost is
counted where it is spent, not guessed from statement counts. A pool's overflow
connections come and go during a run (their backends exit), so a sampler thread reads
every backend's CPU every SAMPLE_SECONDS and keeps the last value of one that is gone;
only a backend that lives less than that is missed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.2

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
        self._seen: dict[int, tuple[str, float]] = {}  # backend pid -> (group, last CPU)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        for pid, app in self.backends():
            cpu = proc_cpu(pid)
            if cpu is not None:
                self._seen[pid] = (PG_API if app == self.api else PG_WORKER, cpu)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                self._sample()
            except Exception:  # a monitor hiccup costs one sample, not the run
                pass

    def snapshot(self) -> dict[str, dict[int, float | None]]:
        """The first call starts the sampler; the next one stops it (before, after)."""
        self._sample()
        snap: dict[str, dict[int, float | None]] = {
            WORKER: {self.worker_pid: proc_cpu(self.worker_pid)},
            PG_WORKER: {},
            PG_API: {},
        }
        for pid, (group, cpu) in self._seen.items():
            snap[group][pid] = cpu
        for name, pid in self.others.items():
            if pid:
                snap[name] = {pid: proc_cpu(pid)}
        t = os.times()
        snap["bench process (submits, polls)"] = {os.getpid(): t.user + t.system}
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)
            self._thread.start()
        else:
            self._stop.set()
            self._thread.join()
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
