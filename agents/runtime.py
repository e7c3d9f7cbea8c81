"""The agent turn: a completion, then tool calls answered until the model is done.

OpenAI tool-calling format. Only allowed tools are offered; a call to anything else
is answered with an error and never executed. Tool failures go back to the model as
tool results (a turn never crashes on a tool). The loop ends when the model answers
without tool calls, or when `max_calls` tools have run: then it is asked once more,
without tools, for its final answer. Between tool calls `should_stop` is asked, so a
cancelled job stops promptly instead of finishing a long tool chain.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.llm import ChatResult, LLMClient, LLMError, LLMProfile
from agents.tools import REGISTRY, ToolContext, ToolError

TRUNCATED = "\n[output truncated: {n} more characters not shown]"
LIMIT_NOTE = (
    "The tool-call limit for this turn is reached. Answer now with what you have, "
    "without calling tools."
)


class TurnCancelled(Exception):
    """should_stop said stop: the job was cancelled or the lease was lost."""


@dataclass
class TurnResult:
    content: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    llm_calls: int = 1
    tool_calls: int = 0

    def add_usage(self, other: TurnResult) -> None:
        """Fold a follow-up call (e.g. the rule judge) into this turn's accounting."""
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.latency_ms += other.latency_ms
        self.llm_calls += other.llm_calls
        self.tool_calls += other.tool_calls


@dataclass(frozen=True)
class ToolTrace:
    tool: str
    call_id: str
    input: Any
    output: str
    latency_ms: int
    outcome: str  # ok | error | refused
    error: str | None = None


@dataclass(frozen=True)
class LLMCall:
    model: str
    outcome: str  # ok | error
    duration_s: float
    tokens_in: int = 0
    tokens_out: int = 0
    reason: str | None = None


@dataclass
class Toolbox:
    """What a turn may do with tools, and who hears about it."""

    allowed: list[str]
    context: ToolContext
    max_calls: int = 20
    output_cap: int = 16 * 1024
    on_trace: Callable[[ToolTrace], None] | None = None
    should_stop: Callable[[], bool] | None = None
    offered: list[str] = field(init=False)

    def __post_init__(self) -> None:
        # Unknown names in a piece are ignored here (validation reports them); the
        # model is only ever shown real tools.
        self.offered = [n for n in dict.fromkeys(self.allowed) if n in REGISTRY]

    def specs(self) -> list[dict] | None:
        return [REGISTRY[n].spec() for n in self.offered] or None

    def execute(self, call: dict) -> ToolTrace:
        fn = call.get("function") or {}
        name = fn.get("name") or ""
        raw = fn.get("arguments") or "{}"
        started = time.monotonic()
        outcome, error, output = "ok", None, ""
        try:
            args = json.loads(raw) if raw.strip() else {}
        except ValueError:
            args = raw
        if name not in self.offered:
            outcome = "refused"
            error = f"tool {name!r} is not allowed here; allowed: {', '.join(self.offered)}"
        elif not isinstance(args, dict):
            outcome, error = "error", "arguments must be a JSON object"
        else:
            try:
                output = str(REGISTRY[name].run(self.context, args))
            except ToolError as exc:
                outcome, error = "error", str(exc)
            except Exception as exc:  # a tool bug must not end the movement
                outcome, error = "error", f"{type(exc).__name__}: {exc}"
        if error is not None:
            output = f"Error: {error}"
        # NUL bytes are legal in a process's output but not in JSON text the model reads
        # or in PostgreSQL text columns.
        output = output.replace("\x00", "\\0")
        return ToolTrace(
            tool=name,
            call_id=call.get("id") or "",
            input=args,
            output=cap(output, self.output_cap),
            latency_ms=int((time.monotonic() - started) * 1000),
            outcome=outcome,
            error=error,
        )


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED.format(n=len(text) - limit)


def run_turn(
    client: LLMClient,
    profile: LLMProfile,
    prompt: str,
    *,
    system: str | None = None,
    history: list[dict] | None = None,
    headers: dict[str, str] | None = None,
    on_retry: Callable | None = None,
    on_llm_call: Callable[[LLMCall], None] | None = None,
    toolbox: Toolbox | None = None,
    temperature: float | None = None,
    schema: dict | None = None,
    allow_empty: bool = False,
) -> TurnResult:
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    messages.extend(history or [])
    messages.append({"role": "user", "content": prompt})
    specs = toolbox.specs() if toolbox and toolbox.max_calls > 0 else None
    turn = TurnResult(content="", model=profile.model, llm_calls=0)

    def call(tools: list[dict] | None) -> ChatResult:
        started = time.monotonic()
        try:
            result = client.chat(
                profile,
                messages,
                tools=tools,
                headers=headers,
                on_retry=on_retry,
                temperature=temperature,
                schema=schema,
                allow_empty=allow_empty,
            )
        except LLMError as exc:
            if on_llm_call:
                on_llm_call(
                    LLMCall(profile.model, "error", time.monotonic() - started, reason=exc.reason)
                )
            raise
        turn.llm_calls += 1
        turn.tokens_in += result.usage.prompt_tokens
        turn.tokens_out += result.usage.completion_tokens
        turn.latency_ms += int(result.latency_s * 1000)
        turn.model = result.model
        if on_llm_call:
            on_llm_call(
                LLMCall(
                    result.model,
                    "ok",
                    result.latency_s,
                    result.usage.prompt_tokens,
                    result.usage.completion_tokens,
                )
            )
        return result

    result = call(specs)
    while specs and result.tool_calls:
        assert toolbox is not None
        messages.append(
            {
                "role": "assistant",
                "content": result.content or None,
                "tool_calls": result.tool_calls,
            }
        )
        for tool_call in result.tool_calls:
            if toolbox.should_stop and toolbox.should_stop():
                raise TurnCancelled()
            if turn.tool_calls >= toolbox.max_calls:
                # Every call id still needs an answer, or the endpoint rejects the history.
                output = "Error: tool-call limit reached; not executed"
            else:
                trace = toolbox.execute(tool_call)
                turn.tool_calls += 1
                if toolbox.on_trace:
                    toolbox.on_trace(trace)
                output = trace.output
            messages.append(
                {"role": "tool", "tool_call_id": tool_call.get("id") or "", "content": output}
            )
        if toolbox.should_stop and toolbox.should_stop():
            raise TurnCancelled()
        if turn.tool_calls >= toolbox.max_calls:
            messages.append({"role": "user", "content": LIMIT_NOTE})
            result = call(None)
            break
        result = call(specs)
    turn.content = result.content or ""
    return turn
