"""What an LLM call is given and what it returns: the endpoint profile, token usage,
the chat result and the error raised when the call fails for good."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.retry import RetryPolicy

__all__ = ["ChatResult", "LLMError", "LLMProfile", "Usage"]


@dataclass(frozen=True)
class LLMProfile:
    base_url: str | None  # None = the offline "demo" provider
    model: str = "demo"
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    max_retries: int = 3  # total attempts = max_retries + 1
    retry_initial_delay: float = 2.0
    retry_max_delay: float = 30.0
    tier: str = "auto"

    @property
    def is_demo(self) -> bool:
        return not self.base_url

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            initial_delay=self.retry_initial_delay,
            max_delay=self.retry_max_delay,
        )


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


@dataclass
class ChatResult:
    content: str
    tool_calls: list[dict]
    finish_reason: str | None
    usage: Usage
    model: str
    attempts: int
    latency_s: float


class LLMError(Exception):
    """The call failed for good: the retry policy gave up, or the request was refused.

    ``unreachable`` is True only when no attempt got an HTTP answer at all (connection
    refused, DNS failure, connect/read timeouts): the endpoint is down rather than the
    request bad, and the job layer does not charge the job an attempt for it.
    """

    def __init__(
        self,
        reason: str,
        *,
        attempts: int = 1,
        status: int | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.status = status
        self.unreachable = unreachable

    def __str__(self) -> str:
        return f"{self.reason} (after {self.attempts} attempt{'s' if self.attempts != 1 else ''})"

    def __reduce__(self):
        # Keep the fields when the error crosses a process boundary (Celery, pickling);
        # the default reduce would rebuild it from the message alone.
        return (
            _rebuild_llm_error,
            (self.reason, self.attempts, self.status, self.unreachable),
        )


def _rebuild_llm_error(
    reason: str, attempts: int, status: int | None, unreachable: bool
) -> LLMError:
    return LLMError(reason, attempts=attempts, status=status, unreachable=unreachable)
