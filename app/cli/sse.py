"""A minimal text/event-stream parser (pure: lines in, events out)."""

from __future__ import annotations

import json
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
