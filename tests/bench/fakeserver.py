"""The fake LLM server for `make bench`, in its own process.

Runs `tests.fakellm.FakeLLM` (its `/_fake/stats`, `/_fake/reset` and `/_fake/latency`
control routes included) and, on a second port, one more read-only route the benchmark
needs and the fake does not offer out of process: the timing of every chat request.

    python -m tests.bench.fakeserver --port P --records-port Q [--latency S]

    GET http://127.0.0.1:Q/records  ->  [[arrived, answered, run, movement, status], ...]

`arrived` is when the fake had read the request, `answered` when its reply was sent
(both `time.time()`); `run` and `movement` are the X-Legato-Run / X-Legato-Movement
headers. Only the fake's public Python API is used.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakellm import FakeLLM


def _records_server(fake: FakeLLM, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

        def do_GET(self):
            if self.path.split("?", 1)[0].rstrip("/") != "/records":
                self.send_error(404)
                return
            rows = [[r.time, r.end_time, r.run, r.movement, r.status] for r in fake.chat_requests]
            body = json.dumps(rows).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records-port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)

    fake = FakeLLM(latency=args.latency, host=args.host, port=args.port)
    fake.start()
    records = _records_server(fake, args.host, args.records_port)
    threading.Thread(target=records.serve_forever, daemon=True, name="records").start()
    print(f"bench fake LLM listening on {fake.url}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    records.shutdown()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
