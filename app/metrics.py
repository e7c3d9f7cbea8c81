"""Prometheus metrics, aggregated from the database.

Workers are many processes on many hosts; every LLM call, tool call and job they
handle is already a row (llm_calls, tool_traces, jobs). So `GET /metrics` on any API
replica computes the whole deployment's numbers from those rows at scrape time, and
Prometheus needs to scrape only the API: no per-worker ports, no multiprocess files.
Counters are monotonic as long as rows are kept (pruning old rows lowers them, which
Prometheus treats as a counter reset).

Jobs are reported two ways: `jobs` is a gauge of how many jobs are in each status now
(its series go down as jobs move on), and `jobs_ended_total` counts jobs that reached a
terminal status, which never changes again, so it only grows. The aggregation runs at
most once per METRICS_CACHE_SECONDS per API process; scrapes in between (Prometheus
replicas, dashboards) get the cached text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import case, func, select

from app.db import db
from app.models import Job
from app.status import JOB_TERMINAL
from app.traces import LlmCallRow, ToolTraceRow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
JOB_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


def _histogram(name: str, doc: str, label_names: list[str], rows, buckets) -> Metric:
    """rows: (labels..., count, sum, count<=b for each bucket)."""
    family = HistogramMetricFamily(name, doc, labels=label_names)
    n = len(label_names)
    for row in rows:
        labels, count, total, below = row[:n], row[n], row[n + 1], row[n + 2 :]
        points = [(str(b), float(c or 0)) for b, c in zip(buckets, below, strict=True)]
        points.append(("+Inf", float(count or 0)))
        family.add_metric([str(v) for v in labels], points, float(total or 0))
    return family


def _bucket_columns(value, buckets):
    return [func.sum(case((value <= b, 1), else_=0)) for b in buckets]


def _job_seconds():
    if db.session.get_bind().dialect.name == "sqlite":
        return (func.julianday(Job.finished_at) - func.julianday(Job.created_at)) * 86400.0
    return func.extract("epoch", Job.finished_at - Job.created_at)


class DatabaseCollector:
    def collect(self) -> Iterator[Metric]:
        s = db.session
        calls = CounterMetricFamily(
            "llm_calls", "LLM calls by tier, model and outcome", labels=["tier", "model", "outcome"]
        )
        for tier, model, outcome, n in s.execute(
            select(LlmCallRow.tier, LlmCallRow.model, LlmCallRow.outcome, func.count()).group_by(
                LlmCallRow.tier, LlmCallRow.model, LlmCallRow.outcome
            )
        ):
            calls.add_metric([tier, model, outcome], n)
        yield calls

        seconds = LlmCallRow.duration_ms / 1000.0
        yield _histogram(
            "llm_call_duration_seconds",
            "LLM call latency (retries included)",
            ["tier"],
            s.execute(
                select(
                    LlmCallRow.tier,
                    func.count(),
                    func.sum(seconds),
                    *_bucket_columns(seconds, LLM_BUCKETS),
                ).group_by(LlmCallRow.tier)
            ),
            LLM_BUCKETS,
        )

        tokens = CounterMetricFamily("llm_tokens", "LLM tokens", labels=["direction"])
        used_in, used_out = s.execute(
            select(
                func.coalesce(func.sum(LlmCallRow.tokens_in), 0),
                func.coalesce(func.sum(LlmCallRow.tokens_out), 0),
            )
        ).one()
        tokens.add_metric(["in"], used_in)
        tokens.add_metric(["out"], used_out)
        yield tokens

        tools = CounterMetricFamily("tool_calls", "Tool calls", labels=["tool", "success"])
        ok = ToolTraceRow.outcome == "ok"
        for tool, success, n in s.execute(
            select(ToolTraceRow.tool, ok, func.count()).group_by(ToolTraceRow.tool, ok)
        ):
            tools.add_metric([tool, "true" if success else "false"], n)
        yield tools

        labels = ["piece", "status", "tier"]
        now = GaugeMetricFamily("jobs", "Jobs by piece, current status and tier", labels=labels)
        ended = CounterMetricFamily(
            "jobs_ended", "Jobs that reached a terminal status", labels=labels
        )
        terminal = {st.value for st in JOB_TERMINAL}
        for piece, status, tier, n in s.execute(
            select(Job.piece_name, Job.status, Job.tier, func.count()).group_by(
                Job.piece_name, Job.status, Job.tier
            )
        ):
            now.add_metric([piece, status, tier], n)
            if status in terminal:
                ended.add_metric([piece, status, tier], n)
        yield now
        yield ended

        active = s.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.status.notin_([st.value for st in JOB_TERMINAL]))
        )
        yield GaugeMetricFamily("active_jobs", "Jobs not yet ended", value=active)

        took = _job_seconds()
        yield _histogram(
            "job_duration_seconds",
            "Submission to end, for ended jobs",
            ["status"],
            s.execute(
                select(
                    Job.status, func.count(), func.sum(took), *_bucket_columns(took, JOB_BUCKETS)
                )
                .where(Job.finished_at.is_not(None))
                .group_by(Job.status)
            ),
            JOB_BUCKETS,
        )
        s.rollback()


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class CachedRender:
    """`render()` at most once per `seconds`; concurrent scrapes wait for one run."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._text = b""
        self._expires = 0.0

    def __call__(self) -> bytes:
        with self._lock:
            if time.monotonic() >= self._expires:
                self._text = render()
                self._expires = time.monotonic() + self.seconds
            return self._text
