"""The fake LLM server is what every other test trusts, so it is checked on its own,
with plain ``requests`` rather than legato's client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.fakellm import (
    FakeLLM,
    delay,
    empty,
    error,
    hang,
    no_choices,
    text,
    tool_call,
    tool_calls,
)

ROOT = Path(__file__).resolve().parents[3]


def post(fake, content="hello", headers=None, **extra):
    body = {"model": "m1", "messages": [{"role": "user", "content": content}], **extra}
    return requests.post(f"{fake.url}/chat/completions", json=body, headers=headers, timeout=10)


def content_of(resp):
    return resp.json()["choices"][0]["message"]["content"]


def test_default_reply_has_openai_shape_and_mentions_movement(fake):
    resp = post(fake, "Plan the trip\nsecond line", headers={"X-Legato-Movement": "plan"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "m1"
    assert body["id"] and isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert "plan" in choice["message"]["content"]
    assert choice["message"]["content"].endswith("Done.")
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    # Deterministic: the same request gets the same text.
    again = post(fake, "Plan the trip\nsecond line", headers={"X-Legato-Movement": "plan"})
    assert content_of(again) == choice["message"]["content"]


def test_script_is_fifo_then_default(fake):
    fake.script(text("one", usage=(3, 4)), "two")
    first, second, third = post(fake), post(fake), post(fake)
    assert content_of(first) == "one"
    assert first.json()["usage"]["total_tokens"] == 7
    assert content_of(second) == "two"
    assert content_of(third).endswith("Done.")


def test_when_matches_user_text_or_movement_and_last_reply_repeats(fake):
    fake.when("review", text("r1"), text("r2"))
    fake.when(lambda rec: rec.job == "J9", text("by predicate"))
    fake.script(text("scripted"))
    assert content_of(post(fake, "please review this")) == "r1"
    assert content_of(post(fake, "x", headers={"X-Legato-Movement": "review"})) == "r2"
    assert content_of(post(fake, "x", headers={"X-Legato-Movement": "ai_review"})) == "r2"
    assert content_of(post(fake, "x", headers={"X-Legato-Job": "J9"})) == "by predicate"
    # Unmatched traffic still consumes the script, then the default.
    assert content_of(post(fake, "unrelated")) == "scripted"
    assert content_of(post(fake, "unrelated")).endswith("Done.")


def test_tool_call_replies(fake):
    fake.script(
        tool_call("Read", {"path": "a.txt"}, id="c1"),
        tool_calls(("Glob", {"pattern": "*"}), ("Grep", {"q": "x"}, "c3")),
    )
    one = post(fake).json()["choices"][0]
    assert one["finish_reason"] == "tool_calls"
    assert one["message"]["content"] is None
    assert one["message"]["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "Read", "arguments": '{"path": "a.txt"}'},
        }
    ]
    two = post(fake).json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in two] == ["Glob", "Grep"]
    assert two[0]["id"] and two[1]["id"] == "c3"


def test_error_empty_and_no_choices(fake):
    fake.script(error(429, retry_after=2), error(500, body="boom"), empty(), no_choices())
    limited = post(fake)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert "error" in limited.json()
    raw = post(fake)
    assert raw.status_code == 500 and raw.text == "boom"
    e = post(fake).json()["choices"][0]
    assert e["message"]["content"] == "" and e["finish_reason"] == "stop"
    assert post(fake).json()["choices"] == []


def test_delay_and_hang_hold_the_reply(fake):
    fake.script(delay(0.3, text("late")), hang(0.3))
    t0 = time.monotonic()
    assert content_of(post(fake)) == "late"
    assert content_of(post(fake)).endswith("Done.")
    assert time.monotonic() - t0 >= 0.6
    recs = fake.chat_requests
    assert all(r.end_time - r.time >= 0.3 for r in recs)


def test_hang_trips_a_client_timeout(fake):
    fake.script(hang(2))
    with pytest.raises(requests.Timeout):
        requests.post(f"{fake.url}/chat/completions", json={"messages": []}, timeout=(1, 0.2))


def test_records_legato_headers_and_body(fake):
    post(
        fake,
        "hi",
        headers={
            "X-Legato-Job": "job-1",
            "X-Legato-Run": "run-1",
            "X-Legato-Movement": "plan",
            "X-Legato-Attempt": "2",
        },
        tools=[{"type": "function", "function": {"name": "Read"}}],
    )
    post(fake, "other", headers={"X-Legato-Run": "run-2"})
    (rec,) = fake.calls_for("run-1")
    assert (rec.job, rec.run, rec.movement, rec.attempt) == ("job-1", "run-1", "plan", 2)
    assert rec.path == "/v1/chat/completions" and rec.method == "POST"
    assert rec.json["messages"][0]["content"] == "hi"
    assert rec.tools and rec.last_user_message == "hi"
    assert rec.status == 200 and rec.reply_kind == "text"
    assert rec.headers["X-Legato-Job"] == "job-1"
    assert rec.headers["x-legato-job"] == "job-1"
    assert len(fake.calls_for("run-2")) == 1
    assert len(fake.requests) == 2


def test_concurrency_is_counted_per_run_and_overall(fake):
    fake.latency = 0.4
    barrier = threading.Barrier(6)

    def call(run):
        barrier.wait()
        post(fake, headers={"X-Legato-Run": run})

    threads = [threading.Thread(target=call, args=(r,)) for r in ["dup"] * 3 + ["a", "b", "c"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.max_concurrent_for("dup") == 3
    assert fake.max_concurrent_for("a") == 1
    assert fake.max_concurrent_for("never") == 0
    assert fake.max_in_flight == 6
    assert fake.in_flight == 0
    assert len(fake.calls_for("dup")) == 3


def test_sustains_many_concurrent_slow_requests(fake):
    fake.latency = 0.5
    n = 200
    results: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def call():
        barrier.wait()
        status = post(fake).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * n
    # Not all 200 need to overlap exactly, but a server that serialised them would
    # never have more than a handful in flight.
    assert fake.max_in_flight >= n * 0.8


def test_models_endpoints_and_ollama_mode(fake):
    fake.models = ["a", "b"]
    assert requests.get(f"{fake.url}/models", timeout=5).json()["data"] == [
        {"id": "a", "object": "model", "owned_by": "fake"},
        {"id": "b", "object": "model", "owned_by": "fake"},
    ]
    assert requests.get(f"{fake.root_url}/api/tags", timeout=5).status_code == 404
    fake.ollama_only = True
    assert requests.get(f"{fake.url}/models", timeout=5).status_code == 404
    tags = requests.get(f"{fake.root_url}/api/tags", timeout=5).json()
    assert [m["name"] for m in tags["models"]] == ["a", "b"]


def test_bad_body_and_unknown_path(fake):
    resp = requests.post(f"{fake.url}/chat/completions", data=b"{not json", timeout=5)
    assert resp.status_code == 400
    assert requests.get(f"{fake.url}/nope", timeout=5).status_code == 404


def test_reset_forgets_everything(fake):
    fake.script(text("queued"))
    fake.when("x", text("rule"))
    post(fake, headers={"X-Legato-Run": "r"})
    fake.reset()
    assert fake.requests == [] and fake.max_in_flight == 0
    assert fake.max_concurrent_for("r") == 0
    assert content_of(post(fake, "x")).endswith("Done.")


def test_stop_releases_the_port_and_wakes_hanging_handlers():
    fake = FakeLLM().start()
    fake.script(hang(30))
    port = fake.port
    caller = threading.Thread(target=lambda: _swallow(lambda: post(fake)))
    caller.start()
    deadline = time.monotonic() + 5
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    fake.stop()
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert time.monotonic() - t0 < 5
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def _swallow(fn):
    try:
        fn()
    except requests.RequestException:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_standalone_cli():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakellm", "--port", str(port), "--latency", "0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in line
        resp = requests.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
            timeout=5,
        )
        assert resp.json()["choices"][0]["message"]["content"].endswith("Done.")
        base = f"http://127.0.0.1:{port}/_fake"
        stats = requests.get(f"{base}/stats", timeout=5).json()
        assert stats["chat_requests"] == 1 and stats["max_in_flight"] == 1
        assert stats["latency"] == 0.1
        assert requests.post(f"{base}/latency", json={"latency": 0}, timeout=5).ok
        assert requests.post(f"{base}/latency", json={"latency": -1}, timeout=5).status_code == 400
        after = requests.post(f"{base}/reset", timeout=5).json()
        assert after == {
            "requests": 0,
            "chat_requests": 0,
            "in_flight": 0,
            "max_in_flight": 0,
            "latency": 0.0,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        proc.stdout.close()
    assert code == 0


def test_zero_latency_calls_are_not_held_back_by_tcp(fake):
    # Guards the TCP_NODELAY fix: with Nagle + delayed ACK each keep-alive round trip
    # costs ~40 ms, so 100 calls would take over 4 s instead of a fraction of one.
    body = {"messages": [{"role": "user", "content": "x"}]}
    with requests.Session() as session:
        session.post(f"{fake.url}/chat/completions", json=body, timeout=5)
        t0 = time.monotonic()
        for _ in range(100):
            session.post(f"{fake.url}/chat/completions", json=body, timeout=5)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.0


def test_unscripted_calls_get_what_their_phase_expects(fake):
    """A structured judgment, a tag stage and a report each get their phase's shape."""
    import json

    def call(kind, schema=None):
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        if schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": schema},
            }
        headers = {"X-Legato-Movement": "review", "X-Legato-Kind": kind}
        resp = requests.post(fake.url + "/chat/completions", json=body, headers=headers, timeout=5)
        return resp.json()["choices"][0]["message"]["content"]

    step = {"type": "object", "properties": {"step": {"type": "integer"}}}
    assert json.loads(call("judge_structured", step))["step"] == 1
    assert call("judge_tag") == "[REVIEW:1]"
    assert call("report").startswith("# Report of review")
    assert fake.requests[0].kind == "judge_structured" and fake.requests[0].schema == step


def test_an_endpoint_without_structured_output_refuses_it(fake):
    fake.structured_output = False
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
    }
    resp = requests.post(fake.url + "/chat/completions", json=body, timeout=5)
    assert resp.status_code == 400
    del body["response_format"]
    assert requests.post(fake.url + "/chat/completions", json=body, timeout=5).status_code == 200
