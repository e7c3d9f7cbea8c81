"""A fake OpenAI-compatible LLM server: the one stand-in legato's tests may use.

It speaks real HTTP so every test exercises the production client, and Celery workers
in other processes can reach it. Replies are scripted (a FIFO queue, or rules matched
on the prompt / movement) and every request is recorded with the legato headers so
tests can assert on what the endpoint actually saw, including concurrency per
movement run.

    with FakeLLM(latency=0.0) as fake:
        fake.when("review", text("Looks good"))
        fake.script(error(500), empty())
        ...  # point LLM_BASE_URL at fake.url

Standalone: ``python -m tests.fakellm --port 8999 --latency 1.0``; a process that
cannot reach the Python API uses ``GET /_fake/stats``, ``POST /_fake/reset`` and
``POST /_fake/latency {"latency": 0.5}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from requests.structures import CaseInsensitiveDict

__all__ = [
    "FakeLLM",
    "Reply",
    "RequestRecord",
    "delay",
    "empty",
    "error",
    "hang",
    "no_choices",
    "text",
    "tool_call",
    "tool_calls",
]

JOB_HEADER = "X-Legato-Job"
RUN_HEADER = "X-Legato-Run"
MOVEMENT_HEADER = "X-Legato-Movement"
ATTEMPT_HEADER = "X-Legato-Attempt"
PHASE_HEADER = "X-Legato-Phase"
KIND_HEADER = "X-Legato-Kind"
NAME_HEADER = "X-Legato-Name"


# -- replies ---------------------------------------------------------------------------


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


# -- records ---------------------------------------------------------------------------


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


# -- server ----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The benchmark keeps hundreds of slow calls in flight; the default backlog of 5
    # would make the kernel refuse connections under that burst.
    request_queue_size = 2048
    allow_reuse_address = True

    fake: FakeLLM

    def handle_error(self, request, client_address) -> None:
        # Clients hanging up on a slow reply (their timeout) is expected traffic here.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reuse connections
    server: _Server
    # Idle keep-alive connections would otherwise pin a thread forever.
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; with Nagle on, the body waits for
        # the client's delayed ACK (~40 ms), which would cap a zero-latency benchmark
        # at ~25 calls/s per connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")

    def send_json(
        self, status: int, body: Any, extra_headers: dict[str, str] | None = None
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)
        self.wfile.flush()


class FakeLLM:
    def __init__(
        self,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        models: list[str] | None = None,
    ) -> None:
        self.latency = latency
        self.models: list[str] = list(models) if models else ["fake-model"]
        self.ollama_only = False
        # False: answer 400 to structured-output requests, as endpoints without
        # response_format support do.
        self.structured_output = True
        # When set, /v1 requests without "Authorization: Bearer <key>" get a 401.
        self.require_api_key: str | None = None
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._released = threading.Event()  # ends the current latency waits early
        self._queue: deque[Reply] = deque()
        self._rules: list[_Rule] = []
        self._responder: Callable[[RequestRecord], Reply | str | None] | None = None
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._run_in_flight: dict[str, int] = {}
        self._run_max: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeLLM:
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"fakellm:{server.server_address[1]}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes sleeping hang()/latency handlers
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            # Close kept-alive connections too, so their handler threads end now and a
            # client sees the server as gone rather than silently idle.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeLLM is not running")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL (what ``LLM_BASE_URL`` should be set to)."""
        return self.root_url + "/v1"

    # -- scripting ---------------------------------------------------------------------

    def script(self, *replies: Reply | str) -> FakeLLM:
        """Queue replies for the next requests (a plain string means ``text(...)``)."""
        with self._lock:
            self._queue.extend(_as_reply(r) for r in replies)
        return self

    def when(self, match: str | Callable[[RequestRecord], bool], *replies: Reply | str) -> FakeLLM:
        """Answer requests that match with ``replies`` in turn (the last one repeats).

        ``match`` is a substring of the last user message or of the movement header, or
        a predicate over the :class:`RequestRecord`. Rules are tried in the order they
        were added and win over :meth:`script`, so a test can pin one movement's answer
        while other traffic interleaves in any order.
        """
        if not replies:
            raise ValueError("when() needs at least one reply")
        predicate = _substring_rule(match) if isinstance(match, str) else match
        with self._lock:
            self._rules.append(_Rule(predicate, [_as_reply(r) for r in replies]))
        return self

    def respond_with(self, responder: Callable[[RequestRecord], Reply | str | None]) -> FakeLLM:
        """Answer with ``responder(record)`` after the rules; None falls through to the
        script queue and then the default reply (a phase-scripted model, for example)."""
        with self._lock:
            self._responder = responder
        return self

    def release(self) -> None:
        """End every latency or hang() wait now, and set latency to 0: held requests
        answer at once (a test holds them to prove they were in flight together)."""
        self.latency = 0.0
        self._released.set()

    def reset(self) -> None:
        """Forget scripts, rules, responder, records and counters (latency and models stay)."""
        self._released.clear()
        with self._lock:
            self._queue.clear()
            self._rules.clear()
            self._responder = None
            self._records.clear()
            self._max_in_flight = self._in_flight
            self._run_max.clear()
            self._run_max.update(self._run_in_flight)

    # -- inspection --------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def chat_requests(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def calls_for(self, run_id: str) -> list[RequestRecord]:
        return [r for r in self.chat_requests if r.run == str(run_id)]

    def max_concurrent_for(self, run_id: str) -> int:
        with self._lock:
            return self._run_max.get(str(run_id), 0)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def max_concurrent_by_run(self) -> dict[str, int]:
        with self._lock:
            return dict(self._run_max)

    # -- request handling --------------------------------------------------------------

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible LLM server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--ollama-only", action="store_true")
    args = parser.parse_args(argv)

    fake = FakeLLM(latency=args.latency, host=args.host, port=args.port, models=args.models)
    fake.ollama_only = args.ollama_only
    fake.start()
    print(f"fake LLM listening on {fake.url} (latency {args.latency:g}s)", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
