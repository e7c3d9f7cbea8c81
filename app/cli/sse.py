"""A minimal text/event-stream client side (pure): the parser, and what a follower
keeps to resume a stream where it stopped."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


KEEPALIVE = ":keepalive"


def parse_sse(lines: Iterable[str], comments: bool = False) -> Iterator[SseEvent]:
    """Yield one event per blank-line-terminated block, per the WHATWG rules we need.

    With `comments`, a comment line (the server's keepalive) yields a KEEPALIVE event,
    so a follower gets control back while the job is quiet."""
    event, data, event_id = "message", [], None
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event=event, data="\n".join(data), id=event_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            if comments:
                yield SseEvent(event=KEEPALIVE, data="")
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
    if data:
        yield SseEvent(event=event, data="\n".join(data), id=event_id)


# How many 429s in a row a follower waits out before it gives up.
MAX_SLOT_WAITS = 10


class StreamResume:
    """A follower's position: the last event id seen, sent back as Last-Event-ID when it
    reconnects, and how many times in a row it was refused a stream slot."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.slot_waits = 0

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_id} if self.last_id else {}

    def track(self, events: Iterable[SseEvent]) -> Iterator[SseEvent]:
        self.slot_waits = 0
        for event in events:
            if event.id:
                self.last_id = event.id
            yield event

    def may_wait_for_slot(self) -> bool:
        self.slot_waits += 1
        return self.slot_waits <= MAX_SLOT_WAITS


def retry_after(value: str | None, default: float = 5.0, cap: float = 60.0) -> float:
    """Seconds from a Retry-After header given in seconds (dates are not worth the code)."""
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        seconds = default
    if not math.isfinite(seconds):
        seconds = default
    return min(max(seconds, 0.0), cap)
