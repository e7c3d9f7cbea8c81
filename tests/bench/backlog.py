"""A backlog drained by one worker: what scenarios 2 and 3 measure.

Every job is queued before the worker starts, so the figure is how many LLM calls one
worker process keeps in flight, not how fast jobs are submitted. In-flight counts come
from the fake LLM's own record of every call (request read -> reply sent), so they are
what the model endpoint would see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.bench import jobs
from tests.bench.common import SINGLE_PIECE, BenchFailure
from tests.bench.cpu import PG_WORKER, WORKER
from tests.bench.report import ms, say

if TYPE_CHECKING:
    from tests.bench.harness import Bench


@dataclass
class Drained:
    jobs: int
    concurrency: int
    latency: float
    pool: str
    spans: list[tuple[float, float]]  # each LLM call: (request read, reply sent)
    t_ready: float  # the worker said ready
    last_finish: float  # the last job finished (database clock)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def wall(self) -> float:
        return self.last_finish - self.t_ready

    @property
    def ideal(self) -> float:
        return self.jobs * self.latency / self.concurrency

    def level(self, start: float, end: float) -> tuple[int, float, float]:
        """(peak, time-weighted average, seconds at >= 90 % of the concurrency) of
        calls in flight between `start` and `end`."""
        events = sorted([(s, 1) for s, _ in self.spans] + [(e, -1) for _, e in self.spans])
        level = peak = 0
        area = high = 0.0
        prev = start
        for t, delta in events:
            lo, hi = max(prev, start), min(t, end)
            if hi > lo:
                area += level * (hi - lo)
                if level >= 0.9 * self.concurrency:
                    high += hi - lo
            prev = t
            level += delta
            if start <= t <= end:
                peak = max(peak, level)
        return peak, area / max(end - start, 1e-9), high

    @property
    def backlog_window(self) -> tuple[float, float]:
        """First call in -> last call in: while jobs were still waiting for a thread."""
        return min(s for s, _ in self.spans), max(s for s, _ in self.spans)

    def cpu_per_movement(self, part: str) -> float:
        return self.cpu.get(part, 0.0) / self.jobs


def drain(
    bench: Bench, count: int, concurrency: int, latency: float, pool: str, label: str
) -> Drained:
    """Queue `count` single-movement jobs, start one worker, wait until all succeeded."""
    bench.fake_control("POST", "latency", {"latency": latency})
    bench.fake_control("POST", "reset")
    submit, make_ctx = jobs.legato_submitter(bench, SINGLE_PIECE, label)
    ids, submit_s = jobs.submit_all(bench, count, submit, make_ctx, label)
    say(
        f"  {label}: queued {count} jobs in {submit_s:.2f} s "
        f"({count / submit_s:.1f} jobs/s through the API); starting the worker"
    )
    t_start = time.time()
    worker = bench.start_legato_worker(concurrency, label.replace(" ", "-"), pool=pool)
    t_ready = time.time()
    say(
        f"  legato worker ready (pid {worker.process.pid}, -P {pool}, concurrency "
        f"{concurrency}) after {t_ready - t_start:.1f} s"
    )

    def in_flight() -> str:
        return f"{bench.fake_control('GET', 'stats')['in_flight']} LLM calls in flight"

    meter = bench.meter(worker)
    before = meter.snapshot()
    jobs.wait_legato(bench, ids, label, extra=in_flight)
    cpu = meter.delta(before, meter.snapshot())
    records = bench.fake_records()
    with bench.conn.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM max(finished_at)) FROM jobs WHERE id = ANY(%s::uuid[])",
            (ids,),
        )
        (last_finish,) = cur.fetchone()
    worker.stop()
    bench.workers.remove(worker)
    bench.fake_control("POST", "latency", {"latency": 0.0})
    spans = [(r[0], r[1]) for r in records if r[1] is not None]
    if len(spans) != count:
        raise BenchFailure(f"{label}: expected {count} LLM calls, the fake saw {len(spans)}")
    return Drained(count, concurrency, latency, pool, spans, t_ready, float(last_finish), cpu)


def print_drained(d: Drained, label: str) -> None:
    c = d.concurrency
    first_in, last_in = d.backlog_window
    peak, avg, high = d.level(first_in, last_in)
    last_out = max(e for _, e in d.spans)
    _, avg_all, _ = d.level(first_in, last_out)
    say(
        f"  {label}: while the backlog lasted ({last_in - first_in:.2f} s, first call -> "
        f"last call started): in-flight LLM calls peak {peak} ({peak / c:.0%} of {c}), "
        f"average {avg:.1f} ({avg / c:.0%}); >= 90% of {c} for {high:.2f} s"
    )
    say(
        f"  {label}: first call -> last reply ({last_out - first_in:.2f} s): average "
        f"in flight {avg_all:.1f} ({avg_all / c:.0%} of {c})"
    )
    say(
        f"  {label}: wall time {d.wall:.2f} s (worker ready -> last job finished) vs ideal "
        f"{d.ideal:.2f} s ({d.jobs} x {d.latency:g} s / {c}) -> {d.wall / d.ideal:.2f}x "
        f"ideal; first LLM call {first_in - d.t_ready:.2f} s after ready"
    )
    worker = d.cpu_per_movement(WORKER)
    say(
        f"  {label}: worker CPU {d.cpu.get(WORKER, 0):.1f} s ({d.cpu.get(WORKER, 0) / d.wall:.0%} "
        f"of one core over the wall time), {ms(worker)} per movement; PostgreSQL backends "
        f"for it {ms(d.cpu_per_movement(PG_WORKER))} per movement"
    )
