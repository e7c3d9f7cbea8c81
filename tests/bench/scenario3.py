"""Scenario 3: many calls in flight in one process, thread pool against gevent pool.

2,000 single-movement jobs (BENCH_S3_JOBS), 5 s of LLM latency (BENCH_S3_LATENCY), one
legato worker process with concurrency 500 (BENCH_S3_CONCURRENCY), once with
`--pool threads` and once with `--pool gevent` (BENCH_S3_POOLS=threads,gevent). The
figure is the average number of LLM calls in flight while the backlog lasts, as a share
of the concurrency; issue 10's target is 85 %. With 5 s calls and 500 slots the ideal
is 100 movements/s, so a worker needs under 10 ms of CPU per movement to keep up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tests.bench.backlog import Drained, drain, print_drained
from tests.bench.common import SINGLE_PIECE, BenchFailure, env_float, env_int
from tests.bench.cpu import PG_WORKER, WORKER
from tests.bench.report import say

if TYPE_CHECKING:
    from tests.bench.harness import Bench

TARGET = 0.85


def scenario3(bench: Bench) -> dict[str, Drained]:
    count = env_int("BENCH_S3_JOBS", 2000)
    latency = env_float("BENCH_S3_LATENCY", 5.0)
    concurrency, note = bench.safe_concurrency(env_int("BENCH_S3_CONCURRENCY", 500))
    pools = [p.strip() for p in os.environ.get("BENCH_S3_POOLS", "threads,gevent").split(",")]
    if not set(pools) <= {"threads", "gevent"}:
        raise BenchFailure(f"BENCH_S3_POOLS={pools}: threads and/or gevent")
    results: dict[str, Drained] = {}
    for pool in pools:
        say(
            f"scenario 3 ({pool}): {count} jobs of piece {SINGLE_PIECE} (1 movement), fake "
            f"LLM latency {latency:g} s, 1 worker process (-P {pool}, concurrency {concurrency})"
        )
        say(f"  {note}")
        label = f"scenario 3 {pool}"
        results[pool] = drain(bench, count, concurrency, latency, pool, label)
        print_drained(results[pool], label)
    say(f"scenario 3: one worker process, concurrency {concurrency}, {count} jobs of {latency:g} s")
    say(
        f"  {'pool':<9}{'avg in flight':>14}{'% of c':>8}{'peak':>6}{'wall/ideal':>11}"
        f"{'worker ms/mv':>13}{'PG ms/mv':>10}"
    )
    for pool, d in results.items():
        first_in, last_in = d.backlog_window
        peak, avg, _ = d.level(first_in, last_in)
        say(
            f"  {pool:<9}{avg:>14.1f}{avg / concurrency:>8.0%}{peak:>6}"
            f"{d.wall / d.ideal:>10.2f}x{d.cpu_per_movement(WORKER) * 1e3:>13.1f}"
            f"{d.cpu_per_movement(PG_WORKER) * 1e3:>10.1f}"
        )
        say(
            f"  target (issue 10): average in flight >= {TARGET:.0%} of {concurrency} with "
            f"{pool}: {'met' if avg / concurrency >= TARGET else 'not met'}"
        )
    return results
