"""Fault 5: the endpoint answers 500, hangs past the timeout, returns empty content, or
429 with Retry-After. Calls are retried per the policy; when the policy runs out the
job retries with the handoff, and the next attempt's prompt (as the fake endpoint
received it) carries it."""

from __future__ import annotations

import pytest

from tests.fakellm import empty, error, hang, text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures
from tests.faults.harness import figure

pytestmark = [pytest.mark.faults, pytest.mark.integration]

OK = "Done."


def _retries(stack, job_id: str) -> list[dict]:
    return [e["data"] for e in stack.events(job_id) if e["kind"] == "llm_retry"]


def test_llm_errors_follow_the_retry_policy_then_the_job_retries_with_handoff(
    make_stack, scratch_db, private_redis, fake_llm
):
    # 3 tries per call (LLM_MAX_RETRIES=2), a 1 s timeout, waits capped at 1 s.
    stack = make_stack(scratch_db, private_redis.url, LLM_TIMEOUT=1, LLM_RETRY_MAX_DELAY=1)
    stack.api()
    stack.worker()
    stack.beat()
    fake_llm.when("case-500-empty", error(500), empty(), text(OK))
    fake_llm.when("case-429-hang", error(429, retry_after=0.5), hang(2.5), text(OK))
    fake_llm.when("case-exhausted", error(500), error(500), error(500), text(OK))

    a = stack.submit(piece="demo", instruction="case-500-empty")["id"]
    b = stack.submit(piece="demo", instruction="case-429-hang")["id"]
    c = stack.submit(piece="demo", instruction="case-exhausted", max_attempts=2)["id"]
    stack.wait_all([a, b, c], timeout=90)
    counts = figure("llm faults", [a, b, c], stack)

    assert counts == {"submitted": 3, "succeeded": 3, "failed": 0, "lost": 0, "duplicated": 0}
    # a: two retried failures inside one call, one attempt
    assert [r["reason"] for r in _retries(stack, a)] == [
        "HTTP 500 from endpoint",
        "empty content",
    ]
    assert stack.job(a)["attempt"] == 1
    # b: the 429's Retry-After is honoured, the hang times out and is retried
    reasons_b = _retries(stack, b)
    assert reasons_b[0]["reason"].startswith("HTTP 429")
    assert reasons_b[0]["wait_s"] >= 0.5
    assert reasons_b[1]["reason"].startswith("timeout after")
    assert stack.job(b)["attempt"] == 1
    # c: the policy ran out (3 x 500) -> attempt 1 failed -> attempt 2 got the handoff
    job_c = stack.job(c)
    assert job_c["attempt"] == 2
    kinds = [e["kind"] for e in stack.events(c)]
    assert kinds.count("job_retry_scheduled") == 1
    prompts = [r.prompt for r in fake_llm.chat_requests if r.job == c and r.movement == "draft"]
    assert len(prompts) == 4  # 3 failed tries in attempt 1, 1 in attempt 2
    assert "## Retry Note" not in prompts[0]
    assert "## Retry Note" in prompts[3]
    assert "Attempt 1 of 2 failed." in prompts[3]
    assert "HTTP 500 from endpoint (after 3 attempts)" in prompts[3]
