"""What the fake answers: a scripted reply (text, tool calls, an HTTP error, a hang)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build with the module-level constructors."""

    kind: str  # text | tool_calls | error | empty | no_choices | delay
    content: str | None = None
    calls: tuple[tuple[str, str, str | None], ...] = ()  # (name, json args, id)
    usage: tuple[int, int] = (10, 5)
    status: int = 200
    body: Any = None
    retry_after: float | None = None
    seconds: float = 0.0
    then: Reply | None = None  # for delay/hang: what to send after sleeping


def text(content: str, usage: tuple[int, int] = (10, 5)) -> Reply:
    return Reply("text", content=content, usage=usage)


def tool_call(
    name: str, arguments: dict | None = None, id: str | None = None, usage=(10, 5)
) -> Reply:
    return tool_calls((name, arguments or {}, id), usage=usage)


def tool_calls(*calls: tuple, usage: tuple[int, int] = (10, 5)) -> Reply:
    """Several calls in one reply; each is ``(name, arguments)`` or ``(name, arguments, id)``."""
    norm = []
    for call in calls:
        name, args, *rest = call
        norm.append((name, json.dumps(args or {}), rest[0] if rest else None))
    return Reply("tool_calls", calls=tuple(norm), usage=usage)


def error(status: int, body: Any = None, retry_after: float | None = None) -> Reply:
    return Reply("error", status=status, body=body, retry_after=retry_after)


def hang(seconds: float, then: Reply | None = None) -> Reply:
    """Stay silent for ``seconds`` (to trip client timeouts), then answer ``then``/default."""
    return Reply("delay", seconds=seconds, then=then)


def delay(seconds: float, reply: Reply) -> Reply:
    return Reply("delay", seconds=seconds, then=reply)


def empty() -> Reply:
    return Reply("empty", content="")


def no_choices() -> Reply:
    return Reply("no_choices")


def _as_reply(reply: Reply | str) -> Reply:
    return text(reply) if isinstance(reply, str) else reply
