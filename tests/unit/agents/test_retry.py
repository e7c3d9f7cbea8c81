"""The retry policy as a pure builder: no network, injected sleep, tiny delays."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.llm import LLMProfile
from agents.retry import RetryableError, RetryInfo, RetryPolicy, backoff_delay, build_retrying

POLICY = RetryPolicy(max_retries=3, initial_delay=2.0, max_delay=30.0)


def run(policy, outcomes, on_retry=None):
    """Drive build_retrying over a list of outcomes (exceptions raise, values return)."""
    sleeps: list[float] = []
    calls = iter(outcomes)
    retrying = build_retrying(policy, on_retry=on_retry, sleep=sleeps.append)

    def attempt():
        outcome = next(calls)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return retrying(attempt), sleeps


def test_profile_builds_its_policy():
    p = LLMProfile("http://x/v1", max_retries=5, retry_initial_delay=0.5, retry_max_delay=9)
    assert p.retry_policy() == RetryPolicy(5, 0.5, 9)
    assert p.retry_policy().max_attempts == 6


def test_backoff_grows_exponentially_and_is_capped():
    lowest = [backoff_delay(POLICY, n, rng=lambda a, b: a) for n in range(1, 7)]
    highest = [backoff_delay(POLICY, n, rng=lambda a, b: b) for n in range(1, 7)]
    assert lowest == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert highest == [3.0, 6.0, 12.0, 24.0, 30.0, 30.0]


@given(
    initial=st.floats(0.0, 10.0),
    maximum=st.floats(0.0, 100.0),
    attempt=st.integers(1, 60),
    frac=st.floats(0.0, 1.0),
)
def test_backoff_stays_between_initial_and_max(initial, maximum, attempt, frac):
    policy = RetryPolicy(3, initial, maximum)
    wait = backoff_delay(policy, attempt, rng=lambda a, b: a + (b - a) * frac)
    assert initial <= wait <= max(initial, maximum)


@given(retry_after=st.floats(0.0, 1e6), maximum=st.floats(0.0, 100.0))
def test_retry_after_wins_but_is_capped(retry_after, maximum):
    policy = RetryPolicy(3, 0.0, maximum)
    assert backoff_delay(policy, 1, retry_after=retry_after) == min(retry_after, maximum)


def test_jitter_varies_between_calls():
    waits = {backoff_delay(POLICY, 2) for _ in range(20)}
    assert len(waits) > 1
    assert all(4.0 <= w <= 6.0 for w in waits)


def test_retries_then_succeeds_and_reports_each_retry():
    seen: list[RetryInfo] = []
    result, sleeps = run(
        POLICY,
        [RetryableError("HTTP 503 from endpoint"), RetryableError("empty content"), "ok"],
        on_retry=seen.append,
    )
    assert result == "ok"
    assert [(i.attempt, i.reason) for i in seen] == [
        (1, "HTTP 503 from endpoint"),
        (2, "empty content"),
    ]
    assert [i.wait_s for i in seen] == sleeps
    assert 2.0 <= sleeps[0] <= 3.0 and 4.0 <= sleeps[1] <= 6.0
    assert all(i.max_attempts == 4 for i in seen)


def test_gives_up_after_max_attempts_with_the_last_cause():
    errors = [RetryableError(f"HTTP 50{i} from endpoint", status=500 + i) for i in range(4)]
    with pytest.raises(RetryableError) as err:
        run(POLICY, [*errors, "never reached"])
    assert err.value is errors[-1]


def test_server_retry_after_drives_the_sleep():
    _, sleeps = run(POLICY, [RetryableError("HTTP 429", status=429, retry_after=7), "ok"])
    assert sleeps == [7.0]
    _, sleeps = run(POLICY, [RetryableError("HTTP 429", status=429, retry_after=600), "ok"])
    assert sleeps == [30.0]


def test_other_exceptions_are_not_retried():
    with pytest.raises(KeyError):
        run(POLICY, [KeyError("bug"), "ok"])


def test_zero_retries_is_one_attempt():
    with pytest.raises(RetryableError):
        run(RetryPolicy(0, 1, 1), [RetryableError("x"), "ok"])
