"""The agent turn: what one movement asks of the model.

For now a turn is one completion; the tool loop grows here, behind the same
`run_turn` signature, so the tasks that call it do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents.llm import LLMClient, LLMProfile


@dataclass
class TurnResult:
    content: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    llm_calls: int = 1

    def add_usage(self, other: TurnResult) -> None:
        """Fold a follow-up call (e.g. the rule judge) into this turn's accounting."""
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.latency_ms += other.latency_ms
        self.llm_calls += other.llm_calls


def run_turn(
    client: LLMClient,
    profile: LLMProfile,
    prompt: str,
    *,
    system: str | None = None,
    headers: dict[str, str] | None = None,
    on_retry: Callable | None = None,
) -> TurnResult:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    result = client.chat(profile, messages, headers=headers, on_retry=on_retry)
    return TurnResult(
        content=result.content or "",
        model=result.model,
        tokens_in=result.usage.prompt_tokens,
        tokens_out=result.usage.completion_tokens,
        latency_ms=int(result.latency_s * 1000),
    )
