"""How the fake answers one HTTP request: routing, the chat completion and its default
reply, the control routes. A mixin of ``FakeLLM``, which holds the state it reads."""

from __future__ import annotations

import json
import socket
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from requests.structures import CaseInsensitiveDict

from tests.fakellm.records import (
    ATTEMPT_HEADER,
    JOB_HEADER,
    MOVEMENT_HEADER,
    RUN_HEADER,
    RequestRecord,
)
from tests.fakellm.replies import Reply, _as_reply, text

if TYPE_CHECKING:
    from tests.fakellm.server import _Handler


class Wire:
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _sleep(self, seconds: float | None) -> None:
        # None: until the server stops or the test releases the held requests.
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self._stopping.is_set() and not self._released.is_set():
            left = 0.05 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            self._stopping.wait(min(left, 0.05))

    def _handle(self, h: _Handler, method: str) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        body: Any = None
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if path.startswith("/_fake/"):
            return self._control(h, method, path, body)
        headers = CaseInsensitiveDict(h.headers.items())
        attempt = h.headers.get(ATTEMPT_HEADER)
        rec = RequestRecord(
            time=time.time(),
            method=method,
            path=path,
            json=body,
            headers=headers,
            job=h.headers.get(JOB_HEADER),
            run=h.headers.get(RUN_HEADER),
            movement=h.headers.get(MOVEMENT_HEADER),
            attempt=int(attempt) if attempt and attempt.isdigit() else None,
        )
        with self._lock:
            self._records.append(rec)

        if (
            self.require_api_key
            and path.startswith("/v1/")
            and headers.get("Authorization") != f"Bearer {self.require_api_key}"
        ):
            return self._send(
                h,
                rec,
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        if method == "GET" and path == "/v1/models":
            if self.ollama_only:
                return self._send(h, rec, 404, {"error": {"message": "not found"}})
            return self._send(
                h,
                rec,
                200,
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models],
                },
            )
        if method == "GET" and path == "/api/tags":
            if not self.ollama_only:
                return self._send(h, rec, 404, {"error": "not found"})
            return self._send(
                h, rec, 200, {"models": [{"name": m, "model": m} for m in self.models]}
            )
        if method == "POST" and path == "/v1/chat/completions":
            if (
                not self.structured_output
                and isinstance(body, dict)
                and body.get("response_format")
            ):
                return self._send(
                    h,
                    rec,
                    400,
                    {
                        "error": {
                            "message": "response_format is not supported by this model",
                            "type": "invalid_request_error",
                        }
                    },
                )
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return self._send(
                    h,
                    rec,
                    400,
                    {
                        "error": {
                            "message": "body must be JSON with a messages list",
                            "type": "invalid_request_error",
                        }
                    },
                )
            return self._chat(h, rec)
        return self._send(h, rec, 404, {"error": {"message": f"no route {method} {path}"}})

    def stats(self) -> dict[str, Any]:
        with self._lock:
            chat = sum(1 for r in self._records if r.path.endswith("/chat/completions"))
            return {
                "requests": len(self._records),
                "chat_requests": chat,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "latency": self.latency,
            }

    def _control(self, h: _Handler, method: str, path: str, body: Any) -> None:
        # For a fake running in another process (``python -m tests.fakellm``), where the
        # Python API is out of reach: the benchmark reads the achieved concurrency here.
        # Not recorded, so it never shows up in a test's request assertions.
        if method == "GET" and path == "/_fake/stats":
            return h.send_json(200, self.stats())
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return h.send_json(200, self.stats())
        if method == "POST" and path == "/_fake/latency":
            value = body.get("latency") if isinstance(body, dict) else None
            if not isinstance(value, (int, float)) or value < 0:
                return h.send_json(400, {"error": {"message": "latency must be a number >= 0"}})
            self.latency = float(value)
            return h.send_json(200, self.stats())
        return h.send_json(404, {"error": {"message": f"no control route {method} {path}"}})

    def _send(
        self,
        h: _Handler,
        rec: RequestRecord,
        status: int,
        body: Any,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        rec.status = status
        # Stamped before the reply goes out, so a client that has its answer always
        # sees the record complete.
        rec.end_time = time.time()
        h.send_json(status, body, extra_headers)

    def _pick(self, rec: RequestRecord) -> Reply | None:
        with self._lock:
            for rule in self._rules:
                try:
                    matched = rule.match(rec)
                except Exception:
                    matched = False
                if matched:
                    return rule.next()
            if self._responder is not None:
                answer = self._responder(rec)
                if answer is not None:
                    return _as_reply(answer)
            if self._queue:
                return self._queue.popleft()
        return None

    def _chat(self, h: _Handler, rec: RequestRecord) -> None:
        run = rec.run
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if run is not None:
                n = self._run_in_flight.get(run, 0) + 1
                self._run_in_flight[run] = n
                self._run_max[run] = max(self._run_max.get(run, 0), n)
        try:
            self._sleep(self.latency)
            reply = self._pick(rec)
            while reply is not None and reply.kind == "delay":
                self._sleep(reply.seconds)
                reply = reply.then
        finally:
            # Leave the in-flight count before the reply goes out: a client that gets
            # its answer and immediately sends the next call for the same run must not
            # be counted as overlapping with itself.
            with self._lock:
                self._in_flight -= 1
                if run is not None:
                    self._run_in_flight[run] -= 1
                    if self._run_in_flight[run] <= 0:
                        del self._run_in_flight[run]
        if not self._stopping.is_set():
            self._answer(h, rec, reply)

    def _answer(self, h: _Handler, rec: RequestRecord, reply: Reply | None) -> None:
        model = rec.json.get("model") or self.models[0]
        if reply is None:
            reply = text(self.default_reply(rec))
        rec.reply_kind = reply.kind
        if reply.kind == "error":
            body = reply.body
            if body is None:
                try:
                    phrase = HTTPStatus(reply.status).phrase
                except ValueError:
                    phrase = "error"
                body = {
                    "error": {
                        "message": f"fake {reply.status} {phrase}",
                        "type": "fake_error",
                        "code": reply.status,
                    }
                }
            elif isinstance(body, str):
                body = body.encode()
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = f"{reply.retry_after:g}"
            return self._send(h, rec, reply.status, body, headers)

        completion: dict[str, Any] = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": reply.usage[0],
                "completion_tokens": reply.usage[1],
                "total_tokens": reply.usage[0] + reply.usage[1],
            },
        }
        if reply.kind == "no_choices":
            return self._send(h, rec, 200, completion)
        if reply.kind == "tool_calls":
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": cid or f"call_{next(self._ids)}",
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    }
                    for name, args, cid in reply.calls
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": reply.content or ""}
            finish = "stop"
        completion["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
        return self._send(h, rec, 200, completion)

    @staticmethod
    def default_reply(rec: RequestRecord) -> str:
        """An unscripted call gets what its phase expects, choosing the first option."""
        props = (rec.schema or {}).get("properties", {})
        if "step" in props:
            return json.dumps({"step": 1, "reason": "fake default: the first rule"})
        if "matched_index" in props:
            return json.dumps({"matched_index": 1, "reason": "fake default"})
        if "done" in props:
            return json.dumps({"done": True, "reasoning": "fake default", "parts": []})
        if "parts" in props:
            part = {"id": "p1", "title": "Everything", "instruction": "do it", "timeout_ms": None}
            return json.dumps({"parts": [part]})
        who = rec.movement or "unknown"
        if rec.kind == "judge_tag":
            return f"[{who.upper()}:1]"
        if rec.kind in ("report", "report_retry"):
            return f"# Report of {who}\n\nFake report content."
        first = rec.last_user_message.strip().splitlines()
        task = first[0][:120] if first else "(no task)"
        return f"Fake LLM reply for movement {who}. Task: {task}\nDone."
