# ruff: noqa: F811 - pytest fixtures imported from agentkit are used as parameters
"""GET /metrics: the deployment's LLM, tool and job metrics, from the database."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import IDLE_TIER
from tests.fakellm import error, text, tool_calls
from tests.integration.agentkit import agent_worker, tool_pieces  # noqa: F401
from tests.integration.helpers import movement, submit, wait_for_status

pytestmark = pytest.mark.integration


def scrape(client) -> dict[tuple[str, frozenset], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_llm_calls_tools_and_jobs(client, agent_worker, llm):
    before = scrape(client)
    llm.when(
        movement("work"),
        tool_calls(("Write", {"path": "a.txt", "content": "x"}), ("Read", {"path": "nope.txt"})),
        text("done"),
    )
    llm.when(movement("answer"), error(400, {"error": {"message": "bad request"}}))

    ok = wait_for_status(client, submit(client, piece="tools-all", tier=IDLE_TIER)["id"])
    bad = wait_for_status(
        client, submit(client, piece="tools-plain", tier=IDLE_TIER, max_attempts=1)["id"]
    )
    assert (ok["status"], bad["status"]) == ("succeeded", "failed")

    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    llm_ok = {"tier": IDLE_TIER, "model": "fake-model", "outcome": "ok"}
    assert delta("llm_calls_total", **llm_ok) == 2
    assert delta("llm_calls_total", tier=IDLE_TIER, model="fake-model", outcome="error") == 1
    assert delta("llm_call_duration_seconds_count", tier=IDLE_TIER) == 3
    # (>=: other tiers, e.g. reflection jobs, may spend tokens meanwhile)
    assert delta("llm_tokens_total", direction="in") >= 20
    assert delta("llm_tokens_total", direction="out") >= 10
    assert delta("tool_calls_total", tool="Write", success="true") == 1
    assert delta("tool_calls_total", tool="Read", success="false") == 1
    assert delta("jobs_total", piece="tools-all", status="succeeded", tier=IDLE_TIER) == 1
    assert delta("jobs_total", piece="tools-plain", status="failed", tier=IDLE_TIER) == 1
    assert delta("job_duration_seconds_count", status="succeeded") >= 1
    assert ("active_jobs", frozenset()) in after
    assert value(after, "job_duration_seconds_bucket", status="failed", le="+Inf") == value(
        after, "job_duration_seconds_count", status="failed"
    )
