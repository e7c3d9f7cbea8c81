"""Retry policy for LLM calls.

The policy is a pure builder over tenacity so it can be exercised with tiny delays and
no network: the HTTP client raises :class:`RetryableError` for anything worth another
attempt and the policy decides how long to wait and when to give up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)
from tenacity.wait import wait_base


@dataclass(frozen=True)
class RetryInfo:
    """What a caller is told before each backoff sleep (e.g. to append a job event)."""

    attempt: int  # the attempt that just failed, 1-based
    reason: str
    wait_s: float
    max_attempts: int = 0


class RetryableError(Exception):
    """One failed attempt that the policy may retry.

    ``unreachable`` marks failures that say nothing about the request itself (nobody
    answered), so the job layer can tell "endpoint down" from "endpoint misbehaving".
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.unreachable = unreachable


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    initial_delay: float = 2.0
    max_delay: float = 30.0

    @property
    def max_attempts(self) -> int:
        return max(0, self.max_retries) + 1


def backoff_delay(
    policy: RetryPolicy,
    failed_attempt: int,
    retry_after: float | None = None,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait after ``failed_attempt`` (1-based) failed.

    A server-provided Retry-After wins over our own schedule because the server knows
    when its rate window reopens; it is still capped so a hostile or buggy header cannot
    park a worker thread for an hour.
    """
    initial = max(0.0, policy.initial_delay)
    ceiling = max(initial, policy.max_delay)
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), ceiling)
    base = min(ceiling, initial * (2 ** max(0, failed_attempt - 1)))
    # Jitter upwards from the exponential step so that many workers failing together
    # (an endpoint restart) do not all come back in the same instant, while the first
    # wait never drops below the configured initial delay.
    return min(ceiling, rng(base, base * 1.5))


class _wait_policy(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return backoff_delay(self.policy, retry_state.attempt_number, retry_after)


def build_retrying(
    policy: RetryPolicy,
    on_retry: Callable[[RetryInfo], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for ``policy``.

    Only :class:`RetryableError` is retried; anything else propagates at once. When the
    attempts run out the last ``RetryableError`` is re-raised (``reraise=True``) so the
    caller sees the real cause instead of tenacity's wrapper.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None:
            return
        exc = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        on_retry(
            RetryInfo(
                attempt=state.attempt_number,
                reason=getattr(exc, "reason", None) or str(exc),
                wait_s=float(wait_s),
                max_attempts=policy.max_attempts,
            )
        )

    kwargs = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return Retrying(
        retry=retry_if_exception_type(RetryableError),
        stop=stop_after_attempt(policy.max_attempts),
        wait=_wait_policy(policy),
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,
    )
