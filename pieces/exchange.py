"""What a movement program asks for and what it is told: a `Call` and its `Answer`.

The program (``pieces.program`` and the feature modules next to it) is pure: it returns
a `Call` and the worker makes it, then records the `Answer` as the run's checkpoint.
Most calls are model calls. A few are local actions the worker performs in the job's
workspace (``local``): a command quality gate, or a look at the workspace's git state.
They are recorded the same way, so a redelivered run never repeats them either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The read-only tool set of legato's internal agents (selectors, judges, reviewers).
READ_ONLY_TOOLS = ("Read", "Glob", "Grep")


@dataclass(frozen=True)
class Call:
    kind: str
    phase: int
    prompt: str
    name: str | None = None  # which one of several calls of this kind (a report file, a round)
    system: str | None = None
    conversation: bool = False  # continue (and extend) the movement's conversation
    fresh: bool = False  # start the conversation over (Phase 1 with session: refresh)
    tools: bool = False
    schema: dict[str, Any] | None = None
    allow_empty: bool = False  # an empty answer is data here, not a transport failure
    judge: bool = False  # runs on the judge tier
    # Tools other than the movement's Phase 1 tools (an internal agent's read-only set).
    tool_names: tuple[str, ...] | None = None
    # A failed call is an answer with status "error" (the program decides what it
    # means), not the end of the run; an unreachable endpoint still hands the run back.
    tolerant: bool = False
    # Not a model call: what the worker does instead ({"type": "command", ...}).
    local: dict[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    kind: str
    content: str = ""
    name: str | None = None
    status: Literal["done", "error", "blocked"] = "done"
    structured: Any = None
    error: str | None = None


def find(answers: list[Answer] | tuple[Answer, ...], kind: str, name: str | None = None):
    """The recorded answer of the call (kind, name), or None when it is still to make."""
    for answer in answers:
        if answer.kind == kind and answer.name == name:
            return answer
    return None


def usable(answer: Answer | None) -> bool:
    """A done answer with something in it."""
    return answer is not None and answer.status == "done" and bool(answer.content.strip())
