"""Figures for `make bench`: per-movement timings, percentiles and the printed report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def say(line: str = "") -> None:
    print(line, flush=True)


# -- statistics -------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass
class Movement:
    """One movement (or raw task) split at the points both systems let us observe.

    ready    the job's creation (first movement) or the previous movement's completion
    picked   the worker began on it (legato: the claim UPDATE; raw: the task body starts)
    llm_in   the fake LLM had read the request
    llm_out  the fake LLM had sent its reply
    done     the movement completed (legato: the completing UPDATE; raw: task body ends)
    """

    ready: float
    picked: float
    llm_in: float
    llm_out: float
    done: float

    @property
    def llm(self) -> float:
        return self.llm_out - self.llm_in

    @property
    def overhead(self) -> float:
        return (self.done - self.ready) - self.llm


@dataclass
class Result:
    system: str
    jobs: int
    movements_per_job: int
    submit_latencies: list[float]
    wall_seconds: float
    movements: list[Movement] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.wall_seconds

    @property
    def movements_per_s(self) -> float:
        return self.jobs * self.movements_per_job / self.wall_seconds

    def overhead(self, p: float) -> float:
        return percentile([m.overhead for m in self.movements], p)

    def phase(self, name: str, p: float) -> float:
        spans = {
            "queue": lambda m: m.picked - m.ready,
            "pre": lambda m: m.llm_in - m.picked,
            "llm": lambda m: m.llm,
            "post": lambda m: m.done - m.llm_out,
        }[name]
        return percentile([spans(m) for m in self.movements], p)


def print_result(r: Result, label: str, loaded: bool = True) -> None:
    say(
        f"  {label}: {r.jobs} jobs in {r.wall_seconds:.2f} s -> "
        f"{r.jobs_per_s:.1f} jobs/s, {r.movements_per_s:.1f} movements/s"
        + ("" if loaded else " (one job at a time: a latency run, not a throughput figure)")
    )
    say(
        f"  {label}: submission p50 {ms(percentile(r.submit_latencies, 50))}, "
        f"p99 {ms(percentile(r.submit_latencies, 99))} per job"
    )
    say(
        f"  {label}: per-movement overhead p50 {ms(r.overhead(50))}, p99 {ms(r.overhead(99))} "
        f"(mean {ms(sum(m.overhead for m in r.movements) / len(r.movements))}; "
        f"LLM call itself p50 {ms(r.phase('llm', 50))})"
    )
    for p in (50, 99):
        say(
            f"  {label}: p{p} split: ready->picked {ms(r.phase('queue', p))} | "
            f"picked->LLM request {ms(r.phase('pre', p))} | "
            f"LLM reply->completed {ms(r.phase('post', p))}"
        )
    if r.cpu:
        count = r.jobs * r.movements_per_job
        parts = ", ".join(f"{k} {v / count * 1000:.2f}" for k, v in r.cpu.items() if v > 0)
        say(f"  {label}: CPU ms per movement: {parts}")


DEFINITIONS = """\
definitions: a movement is ready when its job is created (first movement; raw: when the
  chain is published) or when the previous movement completed. Its overhead is
  (completed - ready) - (the LLM call as the fake server timed it: request read ->
  reply sent). legato's times come from the database clock (jobs.created_at,
  movement_runs.started_at = claim, movement_runs.finished_at = completing UPDATE),
  the raw chain's from time.time() in the task, the fake's from time.time(): one host,
  one clock. Split: ready->picked = commit + publish + Redis + worker pick-up (+ the
  claim UPDATE for legato); picked->LLM request = rest of the claim transaction (prompt,
  event) + HTTP send; LLM reply->completed = parse + rules + completing UPDATE.
  Scenario 1 is a closed loop: as many jobs open at once as the worker has threads, a
  new one submitted as soon as one ends, so overhead is the cost of a hop under full
  load rather than time spent queued behind a burst. Throughput = jobs / (first
  submission -> last job finished), after a warm-up batch that is not counted."""
