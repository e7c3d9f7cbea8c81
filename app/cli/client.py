"""The HTTP client behind the `legato` client commands (LEGATO_API_URL, LEGATO_TOKEN)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import requests

from app.cli.sse import KEEPALIVE, SseEvent, StreamResume, parse_sse, retry_after

DEFAULT_API_URL = "http://127.0.0.1:8000"


class ApiClientError(Exception):
    def __init__(self, status: int | None, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class ApiClient:
    def __init__(
        self, base_url: str | None = None, token: str | None = None, timeout: float = 30.0
    ):
        self.base_url = (base_url or os.environ.get("LEGATO_API_URL") or DEFAULT_API_URL).rstrip(
            "/"
        )
        token = token or os.environ.get("LEGATO_TOKEN")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self.session.request(
                method, self.base_url + path, timeout=self.timeout, **kwargs
            )
        except requests.ConnectionError:
            raise ApiClientError(
                None,
                "unreachable",
                f"cannot reach the legato API at {self.base_url} "
                "(is `legato run` up? set LEGATO_API_URL)",
            ) from None
        if resp.status_code >= 400:
            raise _error_from(resp)
        return resp.json() if resp.content else None

    def submit(self, **body: Any) -> dict:
        return self.request(
            "POST", "/api/jobs", json={k: v for k, v in body.items() if v is not None}
        )

    def jobs(self, **params: Any) -> dict:
        return self.request(
            "GET", "/api/jobs", params={k: v for k, v in params.items() if v is not None}
        )

    def job(self, job_id: str) -> dict:
        return self.request("GET", f"/api/jobs/{job_id}")

    def cancel(self, job_id: str) -> dict:
        return self.request("POST", f"/api/jobs/{job_id}/cancel")

    def retry(self, job_id: str, movement: str | None = None) -> dict:
        if movement is None:
            return self.request("POST", f"/api/jobs/{job_id}/retry")
        return self.request("POST", f"/api/jobs/{job_id}/replay", json={"movement": movement})

    def events(self, job_id: str, after: int = 0, limit: int = 500) -> dict:
        return self.request(
            "GET", f"/api/jobs/{job_id}/events", params={"after": after, "limit": limit}
        )

    def follow(
        self, job_id: str, after: int | str = 0, keepalives: bool = False
    ) -> Iterator[SseEvent]:
        """Stream a job's events until it ends. A stream the server closed (its lifetime
        is STREAM_MAX_SECONDS) or a dropped connection is resumed from the last event id,
        so the caller sees every event once; a 429 (too many open streams) is waited out
        a few times, as its Retry-After asks.

        With `keepalives`, the server's keepalive comments come through as KEEPALIVE
        events (every 15 s while the job is quiet), and so does each reconnect."""
        resume = StreamResume()
        if after:
            resume.last_id = str(after)
        while True:
            try:
                with self.session.get(
                    f"{self.base_url}/api/jobs/{job_id}/events",
                    params={"follow": 1},
                    headers=resume.headers(),
                    stream=True,
                    timeout=(self.timeout, 60),
                ) as resp:
                    if resp.status_code == 429 and resume.may_wait_for_slot():
                        time.sleep(retry_after(resp.headers.get("Retry-After")))
                        continue
                    if resp.status_code >= 400:
                        raise _error_from(resp)
                    lines = resp.iter_lines(decode_unicode=True)
                    for event in resume.track(parse_sse(lines, comments=keepalives)):
                        yield event
                        if event.event == "end":
                            return
            except (
                requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.Timeout,
            ):
                if keepalives:
                    yield SseEvent(event=KEEPALIVE, data="")
                time.sleep(1.0)


def _error_from(resp: requests.Response) -> ApiClientError:
    try:
        err = resp.json()["error"]
        return ApiClientError(
            resp.status_code, err.get("code", "error"), err.get("message", ""), err.get("details")
        )
    except (ValueError, KeyError, TypeError):
        return ApiClientError(
            resp.status_code, "http_error", f"HTTP {resp.status_code} from {resp.url}"
        )
