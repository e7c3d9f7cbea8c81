"""OpenAI-compatible chat client with the legato retry policy.

One :class:`LLMClient` per process: it owns a pooled ``requests.Session`` shared by all
worker threads. Everything request-specific (URL, headers, timeout, body) is passed per
call, so the only shared mutable state is urllib3's connection pool, which is
thread-safe.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from agents import demo
from agents.llm.types import ChatResult, LLMError, LLMProfile, Usage
from agents.llm.wire import (
    chat_url,
    error_detail,
    is_refused_or_dns,
    normalise_tool_calls,
    ollama_models,
    ollama_root,
    openai_models,
    parse_retry_after,
    secs,
    short_conn_error,
    usage_from,
)
from agents.retry import RetryableError, RetryInfo, build_retrying

__all__ = ["LLMClient"]

# Named for the package, not this module: log configs and filters select "agents.llm".
log = logging.getLogger("agents.llm")

_MOVEMENT_HEADER = "X-Legato-Movement"
_KIND_HEADER = "X-Legato-Kind"
_ATTEMPT_HEADER = "X-Legato-Attempt"


class _NonRetryable(Exception):
    def __init__(self, reason: str, status: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LLMClient:
    def __init__(self, pool_size: int = 256) -> None:
        session = requests.Session()
        # Cookies are the one piece of per-response state requests keeps on a Session;
        # refusing them keeps concurrent threads from racing on a shared cookie jar (and
        # no LLM API needs them).
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(
            pool_connections=16,  # distinct endpoints (tiers) kept warm
            pool_maxsize=pool_size,  # connections per endpoint: one per in-flight call
            max_retries=0,  # retries belong to our policy, not urllib3
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chat ---------------------------------------------------------------------------

    def chat(
        self,
        profile: LLMProfile,
        messages: list[dict],
        *,
        tools: list[dict] | None = None,
        headers: dict[str, str] | None = None,
        on_retry: Callable[[RetryInfo], None] | None = None,
        temperature: float | None = None,
        schema: dict[str, Any] | None = None,
        allow_empty: bool = False,
    ) -> ChatResult:
        """One completion, retried by the policy.

        ``schema`` asks for structured output (``response_format`` with a JSON schema);
        an endpoint that refuses it answers 4xx, which is an LLMError the caller may
        treat as "no structured output here". With ``allow_empty`` an empty answer is
        returned as data (a report phase retries it its own way) instead of retried.
        """
        started = time.monotonic()
        if profile.is_demo:
            return self._demo_chat(profile, messages, headers, started, schema)

        policy = profile.retry_policy()
        usage = Usage()
        unreachable_only = True
        attempts = 0
        try:
            for attempt in build_retrying(policy, on_retry=self._retry_hook(profile, on_retry)):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    try:
                        result = self._attempt(
                            profile,
                            messages,
                            # A model that choked on our tool schema gets a plain
                            # request next time: a text answer beats no answer.
                            tools=tools if attempts == 1 else None,
                            headers=headers,
                            temperature=temperature,
                            attempt_no=attempts,
                            usage=usage,
                            schema=schema,
                            allow_empty=allow_empty,
                        )
                    except RetryableError as exc:
                        unreachable_only = unreachable_only and exc.unreachable
                        raise
        except RetryableError as exc:
            raise LLMError(
                exc.reason,
                attempts=attempts,
                status=exc.status,
                unreachable=unreachable_only,
            ) from exc
        except _NonRetryable as exc:
            raise LLMError(exc.reason, attempts=attempts, status=exc.status) from exc
        result.attempts = attempts
        result.latency_s = time.monotonic() - started
        return result

    @staticmethod
    def _retry_hook(
        profile: LLMProfile, on_retry: Callable[[RetryInfo], None] | None
    ) -> Callable[[RetryInfo], None]:
        def hook(info: RetryInfo) -> None:
            # Operators see retries in worker logs even when the caller records nothing.
            # Fields are picked one by one so nothing secret can slip into a log line.
            log.info(
                "LLM call retry: tier=%s model=%s attempt=%d/%d reason=%s wait=%.2fs",
                profile.tier,
                profile.model,
                info.attempt,
                info.max_attempts,
                info.reason,
                info.wait_s,
            )
            if on_retry is not None:
                on_retry(info)

        return hook

    def _attempt(
        self,
        profile: LLMProfile,
        messages: list[dict],
        *,
        tools: list[dict] | None,
        headers: dict[str, str] | None,
        temperature: float | None,
        attempt_no: int,
        usage: Usage,
        schema: dict[str, Any] | None = None,
        allow_empty: bool = False,
    ) -> ChatResult:
        assert profile.base_url is not None
        payload: dict[str, Any] = {"model": profile.model, "messages": messages}
        if tools:
            payload["tools"] = tools
        if schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        if temperature is not None:
            payload["temperature"] = temperature
        req_headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if headers:
            req_headers.update(headers)
        req_headers[_ATTEMPT_HEADER] = str(attempt_no)
        if profile.api_key:
            req_headers["Authorization"] = f"Bearer {profile.api_key}"

        # A refused or unroutable endpoint should fail fast even when generations are
        # allowed to take minutes.
        connect_timeout = min(profile.timeout, 10.0)
        try:
            resp = self._session.post(
                chat_url(profile.base_url),
                data=json.dumps(payload),
                headers=req_headers,
                timeout=(connect_timeout, profile.timeout),
            )
        except requests.ConnectTimeout as exc:
            raise RetryableError(
                f"connect timeout after {secs(connect_timeout)}", unreachable=True
            ) from exc
        except requests.Timeout as exc:
            raise RetryableError(
                f"timeout after {secs(profile.timeout)}", unreachable=True
            ) from exc
        except requests.ConnectionError as exc:
            if is_refused_or_dns(exc):
                raise RetryableError(
                    f"endpoint unreachable ({short_conn_error(exc)})", unreachable=True
                ) from exc
            raise RetryableError(f"connection error ({short_conn_error(exc)})") from exc
        except requests.RequestException as exc:
            raise RetryableError(f"request failed ({type(exc).__name__})") from exc

        status = resp.status_code
        if status == 429:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            reason = (
                f"HTTP 429 (Retry-After {retry_after:g}s)"
                if retry_after is not None
                else "HTTP 429 (rate limited)"
            )
            raise RetryableError(reason, status=429, retry_after=retry_after)
        if status >= 500:
            raise RetryableError(f"HTTP {status} from endpoint", status=status)
        if status >= 400:
            raise _NonRetryable(f"HTTP {status} from endpoint: {error_detail(resp)}", status)
        if status != 200:
            raise RetryableError(f"unexpected HTTP {status} from endpoint", status=status)

        try:
            body = resp.json()
        except ValueError as exc:
            raise RetryableError("invalid JSON in response") from exc
        if not isinstance(body, dict):
            raise RetryableError("invalid response shape")
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise RetryableError("no choices")

        choice = choices[0]
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        content = message.get("content")
        content = content if isinstance(content, str) else demo._text_of(content)
        finish_reason = choice.get("finish_reason")
        tool_calls = normalise_tool_calls(message.get("tool_calls"))
        usage.add(usage_from(body, messages, content))

        if (
            not content.strip()
            and not tool_calls
            and finish_reason != "tool_calls"
            and not allow_empty
        ):
            raise RetryableError("empty content")

        return ChatResult(
            content=content,
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            usage=usage,
            model=body.get("model") or profile.model,
            attempts=attempt_no,
            latency_s=0.0,
        )

    def _demo_chat(
        self,
        profile: LLMProfile,
        messages: list[dict],
        headers: dict[str, str] | None,
        started: float,
        schema: dict[str, Any] | None = None,
    ) -> ChatResult:
        lowered = {key.lower(): value for key, value in (headers or {}).items()}
        movement = lowered.get(_MOVEMENT_HEADER.lower())
        kind = lowered.get(_KIND_HEADER.lower())
        content = demo.demo_reply(messages, movement, kind, schema)
        return ChatResult(
            content=content,
            tool_calls=[],
            finish_reason="stop",
            usage=Usage(
                prompt_tokens=demo.prompt_tokens(messages),
                completion_tokens=demo.estimate_tokens(content),
            ),
            model=demo.DEMO_MODEL,
            attempts=1,
            latency_s=time.monotonic() - started,
        )

    # -- model discovery ----------------------------------------------------------------

    def list_models(self, profile: LLMProfile) -> list[str]:
        """Models the endpoint serves: OpenAI ``/models``, else Ollama ``/api/tags``.

        One attempt each, no retry policy: this is a probe, and its failure is itself
        the answer (``LLMError.unreachable`` tells "down" from "answers oddly").
        """
        if profile.is_demo:
            return [demo.DEMO_MODEL]
        assert profile.base_url is not None
        timeout = (min(profile.timeout, 10.0), min(profile.timeout, 30.0))
        headers = {"Accept": "application/json"}
        if profile.api_key:
            headers["Authorization"] = f"Bearer {profile.api_key}"

        first = self._probe(profile.base_url.rstrip("/") + "/models", headers, timeout)
        if isinstance(first, requests.Response):
            if first.status_code in (401, 403):
                raise LLMError(
                    f"HTTP {first.status_code} listing models: {error_detail(first)}",
                    status=first.status_code,
                )
            models = openai_models(first)
            if models is not None:
                return models
        elif first.unreachable:
            # Same host serves both APIs; nobody is listening, so asking again is moot.
            raise LLMError(first.reason, unreachable=True)

        second = self._probe(ollama_root(profile.base_url) + "/api/tags", headers, timeout)
        if isinstance(second, requests.Response):
            models = ollama_models(second)
            if models is not None:
                return models
            first_status = first.status_code if isinstance(first, requests.Response) else None
            raise LLMError(
                "endpoint lists no models (neither /models nor /api/tags answered usefully)",
                status=first_status or second.status_code,
            )
        raise LLMError(second.reason, unreachable=second.unreachable)

    def _probe(
        self, url: str, headers: dict[str, str], timeout: tuple[float, float]
    ) -> requests.Response | RetryableError:
        try:
            return self._session.get(url, headers=headers, timeout=timeout)
        except requests.Timeout:
            return RetryableError(f"timeout after {secs(timeout[1])}", unreachable=True)
        except requests.ConnectionError as exc:
            return RetryableError(
                f"endpoint unreachable ({short_conn_error(exc)})",
                unreachable=is_refused_or_dns(exc),
            )
        except requests.RequestException as exc:
            return RetryableError(f"request failed ({type(exc).__name__})")
