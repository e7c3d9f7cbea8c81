"""The OpenAI-compatible (and Ollama) wire format as :class:`agents.llm.LLMClient` reads
it: endpoint URLs, tool calls, token usage, error bodies, ``Retry-After``, model lists,
and short reasons for transport failures.

Pure functions over parsed bodies, ``requests`` responses and exceptions; nothing here
sends a request.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from agents import demo
from agents.llm.types import Usage

_ERROR_SNIPPET = 300


# -- URLs -------------------------------------------------------------------------------


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def ollama_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    # Ollama's OpenAI-compatible API lives under /v1 while its native API is at the root.
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


# -- chat completions -------------------------------------------------------------------


def normalise_tool_calls(raw: Any) -> list[dict]:
    # The agent runtime answers each call with a tool message keyed by id and parses the
    # arguments as a JSON string; some servers (Ollama, vLLM variants) omit ids or send
    # arguments as an object, so both are made uniform here.
    if not isinstance(raw, list):
        return []
    calls: list[dict] = []
    for i, call in enumerate(raw):
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            args = json.dumps(args)
        calls.append(
            {
                "id": call.get("id") or f"call_{i}",
                "type": call.get("type") or "function",
                "function": {"name": fn.get("name", ""), "arguments": args},
            }
        )
    return calls


def usage_from(body: dict, messages: list[dict], content: str) -> Usage:
    raw = body.get("usage")
    if isinstance(raw, dict):
        try:
            return Usage(
                prompt_tokens=int(raw.get("prompt_tokens") or 0),
                completion_tokens=int(raw.get("completion_tokens") or 0),
            )
        except (TypeError, ValueError):
            pass
    # No usage from the server: estimate rather than record zero, so per-job token
    # budgets (reflection) still see roughly what was spent.
    return Usage(
        prompt_tokens=demo.prompt_tokens(messages),
        completion_tokens=demo.estimate_tokens(content),
    )


# -- errors -----------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form; an HTTP-date is rare from LLM gateways and falling
    # back to our own backoff is safe.
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        text = resp.text.strip()
        return text[:_ERROR_SNIPPET]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:_ERROR_SNIPPET]
        if isinstance(err, str):
            return err[:_ERROR_SNIPPET]
    return json.dumps(body)[:_ERROR_SNIPPET]


def is_refused_or_dns(exc: requests.ConnectionError) -> bool:
    # requests wraps urllib3's MaxRetryError(reason=NewConnectionError) for refused
    # connections and DNS failures; a connection dropped mid-response is a different
    # animal (the server was there) and must not count as "unreachable".
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError):
            return True
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, NewConnectionError):
                return True
            reason = getattr(arg, "reason", None)
            if isinstance(reason, NewConnectionError):
                return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, NewConnectionError):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def short_conn_error(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "DNS lookup failed"
    if "Connection reset" in text:
        return "connection reset"
    if "RemoteDisconnected" in text or "closed connection" in text:
        return "server closed the connection"
    return type(exc).__name__


def secs(value: float) -> str:
    return f"{value:.1f}s" if round(value, 1) == value else f"{value:g}s"


# -- model lists ------------------------------------------------------------------------


def _listed(resp: requests.Response, key: str) -> list | None:
    """The list under ``key`` of a 200 JSON object answer, else None."""
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    data = body.get(key) if isinstance(body, dict) else None
    return data if isinstance(data, list) else None


def openai_models(resp: requests.Response) -> list[str] | None:
    data = _listed(resp, "data")
    if data is None:
        return None
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]


def ollama_models(resp: requests.Response) -> list[str] | None:
    data = _listed(resp, "models")
    if data is None:
        return None
    names = []
    for m in data:
        if isinstance(m, dict):
            name = m.get("name") or m.get("model")
            if isinstance(name, str):
                names.append(name)
    return names
