"""Scenario 1: the 3-movement piece against a raw Celery chain of three tasks.

Both systems get one worker with a thread pool and the same concurrency, a zero-latency
fake LLM and a closed loop of open jobs (jobs.closed_loop): a warm-up, a loaded run
(throughput, CPU per movement) and a one-at-a-time run (latency). Then, for legato
only, an extra loaded run under py-spy (profile.py): sampling slows the worker down,
so the measured runs are never the profiled one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.bench import jobs
from tests.bench.common import LINEAR_PIECE, REDIS_URL, BenchFailure, env_int
from tests.bench.cpu import PG_WORKER, WORKER
from tests.bench.procs import Proc
from tests.bench.profile import profiled
from tests.bench.report import Movement, Result, percentile, print_result, say

if TYPE_CHECKING:
    from tests.bench.harness import Bench


def measure(
    bench: Bench,
    system: str,
    proc: Proc,
    submit: Callable,
    make_ctx: Callable,
    poll: Callable,
    timings: Callable[[list[str], float], tuple[list[Movement], float]],
    profile_jobs: int = 0,
) -> tuple[Result, Result]:
    """Warm up, then the loaded run (throughput) and the one-at-a-time run (latency);
    then, with `profile_jobs`, one more loaded run under py-spy (not measured)."""
    label = f"scenario 1 ({system})"
    jobs.closed_loop(
        bench, bench.warmup, bench.slots, submit, make_ctx, poll, "warm-up (not counted)"
    )
    runs = []
    for slots, count, what in (
        (bench.slots, bench.jobs, f"{bench.slots} open at a time"),
        (1, bench.serial_jobs, "one at a time"),
    ):
        bench.fake_control("POST", "reset")
        say(f"  {label}: {count} jobs, {what}")
        meter = bench.meter(proc)
        before = meter.snapshot()
        t0 = time.time()
        ids, submit_s = jobs.closed_loop(bench, count, slots, submit, make_ctx, poll, label)
        cpu = meter.delta(before, meter.snapshot())
        movements, wall = timings(ids, t0)
        if len(movements) != 3 * count:
            raise BenchFailure(f"{label}: expected {3 * count} movements, found {len(movements)}")
        runs.append(Result(system, count, 3, submit_s, wall, movements, cpu))
        print_result(runs[-1], f"{system:<6}", loaded=slots > 1)
    if profile_jobs:
        say(f"  {label}: {profile_jobs} more jobs, {bench.slots} open at a time, under py-spy")
        with profiled(bench, proc, f"{system}-loaded"):
            jobs.closed_loop(
                bench, profile_jobs, bench.slots, submit, make_ctx, poll, f"{label} profiled"
            )
    proc.stop()
    return runs[0], runs[1]


def scenario1_legato(bench: Bench) -> tuple[Result, Result]:
    wanted = bench.concurrency
    bench.concurrency, note = bench.safe_concurrency(wanted)
    if bench.concurrency < wanted:
        say(f"  {note}")
        bench.slots = min(bench.slots, bench.concurrency)
        bench.warmup = min(bench.warmup, 2 * bench.slots)
    say(
        f"scenario 1 (legato): piece {LINEAR_PIECE} (3 movements), fake LLM latency 0, "
        f"1 worker (threads, concurrency {bench.concurrency}); jobs submitted with "
        f"POST /api/jobs through the Flask test client"
    )
    bench.fake_control("POST", "latency", {"latency": 0.0})
    worker = bench.start_legato_worker(bench.concurrency, "scenario1")
    say(f"  legato worker ready (pid {worker.process.pid})")
    submit, make_ctx = jobs.legato_submitter(bench, LINEAR_PIECE, "scenario 1")

    def poll(ids):
        return jobs.legato_poll(bench, ids)

    def timings(ids, since):
        return jobs.legato_timings(bench, ids, since)

    # BENCH_PROFILE_JOBS=0 skips the profiled run.
    profile_jobs = env_int("BENCH_PROFILE_JOBS", max(bench.slots, bench.jobs // 2), minimum=0)
    return measure(bench, "legato", worker, submit, make_ctx, poll, timings, profile_jobs)


def scenario1_raw(bench: Bench) -> tuple[Result, Result]:
    from tests.bench import rawchain

    say(
        f"scenario 1 (raw Celery): chains of 3 tasks, each task the same HTTP call to "
        f"the fake LLM; 1 worker (threads, concurrency {bench.concurrency}); same Redis; "
        + (
            "Celery task events on (as legato with WORKER_TASK_EVENTS=true)"
            if os.environ.get("BENCH_RAW_EVENTS") == "1"
            else "no task events (as legato: WORKER_TASK_EVENTS defaults to false)"
        )
    )
    raw_prefix = f"{bench.key_prefix}raw:"
    results_key = f"{raw_prefix}results"
    env = {
        **os.environ,
        "BENCH_RAW_BROKER_URL": REDIS_URL,
        "BENCH_RAW_KEY_PREFIX": raw_prefix,
        "BENCH_RAW_LLM_URL": f"{bench.fake_root}/v1",
        "BENCH_RAW_RESULTS_KEY": results_key,
        "PYTHONUNBUFFERED": "1",
    }
    proc = Proc(
        "raw Celery worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.bench.rawchain",
            "worker",
            "-Q",
            rawchain.QUEUE,
            "-P",
            "threads",
            "-c",
            str(bench.concurrency),
            "-n",
            f"bench-raw-{bench.tag}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        bench.tmp / "worker-raw.log",
    )
    bench.stack.callback(proc.stop)
    bench.workers.append(proc)
    proc.start(b"ready.")
    say(f"  raw Celery worker ready (pid {proc.process.pid})")

    producer = rawchain.make_app(REDIS_URL, raw_prefix, bench.concurrency)
    bench.stack.callback(producer.close)
    step = rawchain.register(producer, None, None, None)
    bench.fake_control("POST", "latency", {"latency": 0.0})
    states: dict[str, dict] = {}
    read = [0]
    counter = iter(range(10**9))

    def submit(i: int, _ctx) -> str:
        chain_id = f"chain-{next(counter)}"
        rawchain.send_chain(step, chain_id, f"bench raw job {i}")
        return chain_id

    def poll(pending: list[str]) -> tuple[set[str], dict[str, str]]:
        new = bench.redis.lrange(results_key, read[0], -1)
        read[0] += len(new)
        done, failed = set(), {}
        for raw in new:
            state = json.loads(raw)
            states[state["id"]] = state
            if state.get("error"):
                failed[state["id"]] = state["error"]
            else:
                done.add(state["id"])
        return done, failed

    def timings(ids: list[str], t0: float) -> tuple[list[Movement], float]:
        by_run = {r[2]: r for r in bench.fake_records() if r[2]}
        movements: list[Movement] = []
        last_done = t0
        for chain_id in ids:
            state = states[chain_id]
            ready = state["submitted"]
            for index, (picked, done) in enumerate(state["steps"], start=1):
                rec = by_run.get(f"{chain_id}:{index}")
                if rec is None:
                    raise BenchFailure(f"the fake LLM saw no request for {chain_id}:{index}")
                movements.append(Movement(ready, picked, rec[0], rec[1], done))
                ready = done
            last_done = max(last_done, ready)
        return movements, last_done - t0

    return measure(bench, "raw", proc, submit, lambda: None, poll, timings)


def _cpu(r: Result, part: str) -> float:
    """CPU milliseconds per movement spent by `part` in this run."""
    return r.cpu.get(part, 0.0) / (r.jobs * r.movements_per_job) * 1e3


def print_ratios(legato: tuple[Result, Result], raw: tuple[Result, Result]) -> dict:
    """The side-by-side table, the issue's targets, and the figures for the README."""
    (lo, ls), (ro, rs) = legato, raw
    say("scenario 1: legato / raw Celery (throughput < 1 and overhead > 1 mean legato costs more)")
    rows = [
        ("jobs/s (loaded)", lo.jobs_per_s, ro.jobs_per_s),
        ("movements/s (loaded)", lo.movements_per_s, ro.movements_per_s),
        ("worker CPU/movement (ms)", _cpu(lo, WORKER), _cpu(ro, WORKER)),
        ("PostgreSQL CPU/mvmt (ms)", _cpu(lo, PG_WORKER), _cpu(ro, PG_WORKER)),
        (
            "worker+PG CPU/mvmt (ms)",
            _cpu(lo, WORKER) + _cpu(lo, PG_WORKER),
            _cpu(ro, WORKER) + _cpu(ro, PG_WORKER),
        ),
        ("worker CPU/mvmt idle (ms)", _cpu(ls, WORKER), _cpu(rs, WORKER)),
        ("PG CPU/mvmt idle (ms)", _cpu(ls, PG_WORKER), _cpu(rs, PG_WORKER)),
        ("overhead p50 loaded (ms)", lo.overhead(50) * 1e3, ro.overhead(50) * 1e3),
        ("overhead p99 loaded (ms)", lo.overhead(99) * 1e3, ro.overhead(99) * 1e3),
        ("overhead p50 idle (ms)", ls.overhead(50) * 1e3, rs.overhead(50) * 1e3),
        ("overhead p99 idle (ms)", ls.overhead(99) * 1e3, rs.overhead(99) * 1e3),
        (
            "submit p50 idle (ms)",
            percentile(ls.submit_latencies, 50) * 1e3,
            percentile(rs.submit_latencies, 50) * 1e3,
        ),
    ]
    say(f"  {'figure':<27}{'legato':>10}{'raw':>10}{'ratio':>9}")
    for name, a, b in rows:
        ratio = f"{a / b:.2f}x" if b else "n/a"
        say(f"  {name:<27}{a:>10.1f}{b:>10.1f}{ratio:>9}")
    cpu_ratio = _cpu(lo, WORKER) / _cpu(ro, WORKER) if _cpu(ro, WORKER) else float("inf")
    rate_ratio = lo.jobs_per_s / ro.jobs_per_s
    say(
        f"  target (issue 10): worker CPU per movement <= 2x the raw chain's: {cpu_ratio:.2f}x "
        f"-> {'met' if cpu_ratio <= 2 else 'not met'}; jobs/s >= 0.5x: {rate_ratio:.2f}x -> "
        f"{'met' if rate_ratio >= 0.5 else 'not met'}"
    )
    say(
        "  (the raw chain keeps no state: it has no PostgreSQL backend, so its database "
        "CPU is 0 and legato's is all extra)"
    )
    return {"cpu_ratio": cpu_ratio, "rate_ratio": rate_ratio}
