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

from tests.fakellm.records import RequestRecord
from tests.fakellm.replies import (
    Reply,
    delay,
    empty,
    error,
    hang,
    no_choices,
    text,
    tool_call,
    tool_calls,
)
from tests.fakellm.server import FakeLLM

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
