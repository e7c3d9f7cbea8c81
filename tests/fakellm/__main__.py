"""``python -m tests.fakellm``: the fake in its own process."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.fakellm.server import FakeLLM


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
