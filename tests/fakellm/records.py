"""What the fake saw: one record per request, with legato's headers, and the rules
that match records to scripted replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from requests.structures import CaseInsensitiveDict

from tests.fakellm.replies import Reply

JOB_HEADER = "X-Legato-Job"
RUN_HEADER = "X-Legato-Run"
MOVEMENT_HEADER = "X-Legato-Movement"
ATTEMPT_HEADER = "X-Legato-Attempt"
PHASE_HEADER = "X-Legato-Phase"
KIND_HEADER = "X-Legato-Kind"
NAME_HEADER = "X-Legato-Name"


@dataclass
class RequestRecord:
    time: float  # time.time() when the request arrived
    method: str
    path: str
    json: Any
    headers: CaseInsensitiveDict  # as received; lookups ignore case like HTTP does
    job: str | None = None
    run: str | None = None
    movement: str | None = None
    attempt: int | None = None  # the client's per-call attempt (X-Legato-Attempt)
    status: int | None = None  # what the fake answered
    reply_kind: str | None = None
    end_time: float | None = None

    @property
    def messages(self) -> list[dict]:
        return (self.json or {}).get("messages", []) if isinstance(self.json, dict) else []

    @property
    def tools(self) -> list[dict] | None:
        return self.json.get("tools") if isinstance(self.json, dict) else None

    @property
    def phase(self) -> int | None:
        value = self.headers.get(PHASE_HEADER)
        return int(value) if value and value.isdigit() else None

    @property
    def kind(self) -> str | None:
        """What the engine is asking: execute, report, judge_structured, judge_tag, ..."""
        return self.headers.get(KIND_HEADER)

    @property
    def name(self) -> str | None:
        """Which call of its kind (a report file, a reviewer round): X-Legato-Name."""
        from urllib.parse import unquote

        value = self.headers.get(NAME_HEADER)
        return unquote(value) if value is not None else None

    @property
    def schema(self) -> dict | None:
        """The JSON schema of a structured-output request (response_format), if any."""
        fmt = self.json.get("response_format") if isinstance(self.json, dict) else None
        if not isinstance(fmt, dict):
            return None
        spec = fmt.get("json_schema")
        return spec.get("schema") if isinstance(spec, dict) else None

    @property
    def last_user_message(self) -> str:
        return _last_user(self.messages)

    @property
    def prompt(self) -> str:
        """All message contents joined, for "does the prompt mention X" assertions."""
        return "\n".join(_content_text(m.get("content")) for m in self.messages)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and "text" in p)
    return ""


def _last_user(messages: list[dict]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _content_text(m.get("content"))
    return ""


@dataclass
class _Rule:
    match: Callable[[RequestRecord], bool]
    replies: list[Reply]
    served: int = 0

    def next(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


def _substring_rule(needle: str) -> Callable[[RequestRecord], bool]:
    def match(rec: RequestRecord) -> bool:
        movement = rec.movement or ""
        return needle in rec.last_user_message or movement == needle or needle in movement

    return match
