"""Scenario 2: 1,000 single-movement jobs, 1 s of LLM latency, one worker with 200
threads: how many calls one thread-pool worker keeps in flight (kept to show the trend;
scenario 3 is the issue's target at 500)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.bench.backlog import Drained, drain, print_drained
from tests.bench.common import SINGLE_PIECE, env_float, env_int
from tests.bench.cpu import WORKER
from tests.bench.report import ms, say

if TYPE_CHECKING:
    from tests.bench.harness import Bench


def scenario2(bench: Bench) -> Drained:
    count = env_int("BENCH_SLOW_JOBS", 1000)
    latency = env_float("BENCH_SLOW_LATENCY", 1.0)
    concurrency, note = bench.safe_concurrency(env_int("BENCH_SLOW_CONCURRENCY", 200))
    say(
        f"scenario 2: {count} jobs of piece {SINGLE_PIECE} (1 movement), "
        f"fake LLM latency {latency:g} s, 1 worker (threads, concurrency {concurrency})"
    )
    say(f"  {note}")
    d = drain(bench, count, concurrency, latency, "threads", "scenario 2")
    print_drained(d, "scenario 2")
    per_movement = d.cpu_per_movement(WORKER)
    if per_movement > 0:
        say(
            f"  scenario 2: one worker process runs its Python on one core at a time (the "
            f"GIL): at {ms(per_movement)} of CPU per movement it tops out near "
            f"{1 / per_movement:.0f} movements/s, i.e. about {latency / per_movement:.0f} "
            f"calls of {latency:g} s in flight, whatever its thread count"
        )
    return d
