"""WebFetch: GET a URL with size and time caps, never into private networks by default.

The address policy and the pinned connection live in agents.net (callbacks use them
too): the name is resolved once, every address must be public (or allow-listed via
WEBFETCH_ALLOW), the connection goes to a checked address, and each redirect hop is
checked the same way.
"""

from __future__ import annotations

import time

import requests

from agents.net import Refused, Unresolvable, fetch
from agents.tools.base import Tool, ToolContext, ToolError, arg_str, schema

_MAX_REDIRECTS = 5


def _fetch(ctx: ToolContext, args: dict) -> str:
    url = arg_str(args, "url")
    limits = ctx.limits
    deadline = time.monotonic() + limits.webfetch_timeout
    try:
        resp = fetch(
            "GET",
            url,
            allow=limits.webfetch_allow,
            max_redirects=_MAX_REDIRECTS,
            timeout=limits.webfetch_timeout,
            stream=True,
            headers={"User-Agent": "legato-webfetch/1"},
        )
    except (Refused, Unresolvable) as exc:
        raise ToolError(f"{exc}; refused") from None
    except requests.RequestException as exc:
        raise ToolError(f"fetch failed: {type(exc).__name__}") from None
    return _body(resp, limits.webfetch_max_bytes, deadline)


def _body(resp: requests.Response, cap: int, deadline: float) -> str:
    chunks, size, truncated = [], 0, False
    with resp:
        for chunk in resp.iter_content(8192):
            if time.monotonic() > deadline:
                raise ToolError("fetch took too long; aborted")
            chunks.append(chunk)
            size += len(chunk)
            if size >= cap:
                truncated = True
                break
    body = b"".join(chunks)[:cap].decode(resp.encoding or "utf-8", errors="replace")
    head = f"HTTP {resp.status_code} {resp.headers.get('Content-Type', '')}".strip()
    tail = f"\n[truncated at {cap} bytes]" if truncated else ""
    return f"{head}\n\n{body}{tail}"


TOOLS = [
    Tool(
        "WebFetch",
        "Fetch a public http(s) URL and return the start of its body.",
        schema(["url"], url={"type": "string"}),
        _fetch,
    )
]
