"""The fake's HTTP server and its Python API: scripting, records, concurrency counts."""

from __future__ import annotations

import itertools
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakellm.records import RequestRecord, _Rule, _substring_rule
from tests.fakellm.replies import Reply, _as_reply
from tests.fakellm.wire import Wire


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


class FakeLLM(Wire):
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
