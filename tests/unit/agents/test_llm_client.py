"""legato's LLM client over real HTTP against the fake server (never patched)."""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest

from agents.llm import ChatResult, LLMClient, LLMError, LLMProfile, Usage
from agents.retry import RetryInfo
from tests.fakellm import empty, error, hang, no_choices, text, tool_call

MSGS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Summarise the report"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "Read",
            "description": "read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


def always(*replies):
    return (lambda rec: True, *replies)


def test_success_returns_content_usage_and_metadata(fake, client, profile):
    fake.script(text("All good", usage=(42, 7)))
    result = client.chat(profile, MSGS, temperature=0.2)
    assert isinstance(result, ChatResult)
    assert result.content == "All good"
    assert result.tool_calls == []
    assert result.finish_reason == "stop"
    assert result.usage == Usage(prompt_tokens=42, completion_tokens=7)
    assert result.usage.total_tokens == 49
    assert result.model == "fake-model"
    assert result.attempts == 1
    assert result.latency_s > 0
    (rec,) = fake.chat_requests
    assert rec.json["model"] == "fake-model"
    assert rec.json["messages"] == MSGS
    assert rec.json["temperature"] == 0.2
    assert "tools" not in rec.json


def test_tool_calls_are_returned_and_not_treated_as_empty(fake, client, profile):
    fake.script(tool_call("Read", {"path": "input/a.md"}, id="call_7"))
    result = client.chat(profile, MSGS, tools=TOOLS)
    assert result.attempts == 1
    assert result.finish_reason == "tool_calls"
    assert result.content == ""
    assert result.tool_calls == [
        {
            "id": "call_7",
            "type": "function",
            "function": {"name": "Read", "arguments": '{"path": "input/a.md"}'},
        }
    ]
    assert fake.chat_requests[0].json["tools"] == TOOLS


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (error(503), "HTTP 503 from endpoint"),
        (error(500), "HTTP 500 from endpoint"),
        (hang(1.5), "timeout after 0.3s"),
        (empty(), "empty content"),
        (no_choices(), "no choices"),
        (error(429), "HTTP 429 (rate limited)"),
    ],
)
def test_each_retry_cause_is_retried_with_a_clear_reason(fake, client, profile, bad, reason):
    profile = dataclasses.replace(profile, timeout=0.3)
    fake.script(bad, text("recovered"))
    seen: list[RetryInfo] = []
    result = client.chat(profile, MSGS, on_retry=seen.append)
    assert result.content == "recovered"
    assert result.attempts == 2
    assert [(i.attempt, i.reason) for i in seen] == [(1, reason)]
    assert 0.01 <= seen[0].wait_s <= 0.05
    assert seen[0].max_attempts == 4
    assert [r.attempt for r in fake.chat_requests] == [1, 2]


def test_retry_after_is_honoured_between_requests(fake, client, profile):
    profile = dataclasses.replace(profile, retry_max_delay=5.0)
    fake.script(error(429, retry_after=0.4), text("ok"))
    seen: list[RetryInfo] = []
    assert client.chat(profile, MSGS, on_retry=seen.append).content == "ok"
    assert seen[0].reason == "HTTP 429 (Retry-After 0.4s)"
    assert seen[0].wait_s == pytest.approx(0.4)
    first, second = fake.chat_requests
    # Measured where it matters: the gap the endpoint saw between answering the 429 and
    # receiving the retry.
    assert second.time - first.end_time >= 0.4 - 0.02


def test_retry_after_is_capped_by_max_delay(fake, client, profile):
    fake.script(error(429, retry_after=60), text("ok"))
    seen: list[RetryInfo] = []
    assert client.chat(profile, MSGS, on_retry=seen.append).content == "ok"
    assert seen[0].wait_s == pytest.approx(profile.retry_max_delay)
    first, second = fake.chat_requests
    assert second.time - first.end_time < 10


def test_gives_up_after_max_retries_plus_one_on_5xx(fake, client, profile):
    fake.when(*always(error(500)))
    seen: list[RetryInfo] = []
    with pytest.raises(LLMError) as err:
        client.chat(profile, MSGS, on_retry=seen.append)
    exc = err.value
    assert exc.attempts == profile.max_retries + 1 == 4
    assert exc.status == 500
    assert exc.unreachable is False
    assert exc.reason == "HTTP 500 from endpoint"
    assert len(fake.chat_requests) == 4
    assert [i.attempt for i in seen] == [1, 2, 3]  # no sleep after the last attempt


def test_max_retries_zero_means_one_attempt(fake, client, profile):
    fake.when(*always(error(502)))
    with pytest.raises(LLMError) as err:
        client.chat(dataclasses.replace(profile, max_retries=0), MSGS)
    assert err.value.attempts == 1
    assert len(fake.chat_requests) == 1


def test_connection_refused_is_unreachable(client, closed_url):
    profile = LLMProfile(closed_url, "m", max_retries=2, retry_initial_delay=0.01)
    seen: list[RetryInfo] = []
    with pytest.raises(LLMError) as err:
        client.chat(profile, MSGS, on_retry=seen.append)
    assert err.value.unreachable is True
    assert err.value.attempts == 3
    assert err.value.status is None
    assert "connection refused" in err.value.reason
    assert len(seen) == 2


def test_dns_failure_is_unreachable(client):
    profile = LLMProfile("http://legato-no-such-host.invalid/v1", "m", max_retries=0)
    with pytest.raises(LLMError) as err:
        client.chat(profile, MSGS)
    assert err.value.unreachable is True


def test_timeouts_on_every_attempt_are_unreachable(fake, client, profile):
    fake.when(*always(hang(1)))
    profile = dataclasses.replace(profile, timeout=0.2, max_retries=1)
    with pytest.raises(LLMError) as err:
        client.chat(profile, MSGS)
    assert err.value.unreachable is True
    assert err.value.reason == "timeout after 0.2s"


def test_an_endpoint_that_answered_once_is_not_unreachable(fake, client, profile):
    # A 500 proves somebody is there; the job should use up an attempt, not wait for
    # the endpoint to "come back".
    fake.when(*always(error(500), hang(1)))
    profile = dataclasses.replace(profile, timeout=0.2, max_retries=2)
    with pytest.raises(LLMError) as err:
        client.chat(profile, MSGS)
    assert err.value.unreachable is False
    assert err.value.attempts == 3


def test_dropped_connection_is_retried_but_not_unreachable(client):
    # A server that accepts and closes without answering: it exists, so not "down".
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        profile = LLMProfile(f"http://127.0.0.1:{port}/v1", max_retries=1, retry_initial_delay=0.01)
        with pytest.raises(LLMError) as err:
            client.chat(profile, MSGS)
        assert err.value.attempts == 2
        assert err.value.unreachable is False
    finally:
        stop.set()
        t.join()
        listener.close()


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(fake, client, profile, status):
    fake.when(*always(error(status, body={"error": {"message": "bad tool schema"}})))
    with pytest.raises(LLMError) as err:
        client.chat(profile, MSGS, tools=TOOLS)
    assert err.value.status == status
    assert err.value.attempts == 1
    assert err.value.unreachable is False
    assert "bad tool schema" in err.value.reason
    assert len(fake.chat_requests) == 1


def test_tools_are_stripped_on_the_resend(fake, client, profile):
    fake.script(error(500), empty(), text("plain answer"))
    result = client.chat(profile, MSGS, tools=TOOLS)
    assert result.content == "plain answer"
    first, second, third = fake.chat_requests
    assert first.json["tools"] == TOOLS
    assert "tools" not in second.json and "tools" not in third.json
    assert second.json["messages"] == MSGS == third.json["messages"]


def test_usage_adds_up_over_answered_attempts(fake, client, profile):
    # An empty reply was still generated (and billed) by the provider.
    fake.script(empty(), text("ok", usage=(100, 20)))
    result = client.chat(profile, MSGS)
    assert result.usage == Usage(prompt_tokens=110, completion_tokens=25)


def test_legato_headers_are_forwarded(fake, client, profile):
    headers = {"X-Legato-Job": "j-1", "X-Legato-Run": "r-1", "X-Legato-Movement": "plan"}
    fake.script(error(500))
    client.chat(profile, MSGS, headers=headers)
    recs = fake.calls_for("r-1")
    assert len(recs) == 2
    for rec in recs:
        assert (rec.job, rec.run, rec.movement) == ("j-1", "r-1", "plan")
    assert [r.attempt for r in recs] == [1, 2]


def test_api_key_is_sent_as_bearer_and_kept_out_of_repr(fake, client, profile):
    secret = "sk-very-secret-123"
    keyed = dataclasses.replace(profile, api_key=secret)
    client.chat(keyed, MSGS)
    assert fake.chat_requests[0].headers["Authorization"] == f"Bearer {secret}"
    assert secret not in repr(keyed)
    assert secret not in str(keyed)

    fake.when(*always(error(400)))
    with pytest.raises(LLMError) as err:
        client.chat(keyed, MSGS)
    assert secret not in str(err.value) and secret not in repr(err.value)


def test_no_authorization_header_without_key(fake, client, profile):
    client.chat(profile, MSGS)
    assert "Authorization" not in fake.chat_requests[0].headers


def test_on_retry_exception_stops_the_call(fake, client, profile):
    # The caller can abort a retrying call (e.g. the job was cancelled meanwhile).
    fake.when(*always(error(500)))

    class Cancelled(Exception):
        pass

    def cancel(info):
        raise Cancelled

    with pytest.raises(Cancelled):
        client.chat(profile, MSGS, on_retry=cancel)
    assert len(fake.chat_requests) == 1


def test_many_threads_share_one_client(fake, profile):
    fake.latency = 0.5
    # A generous timeout: on a busy machine a 2 s timeout makes the client retry, and a
    # retry is a second request for the same run (correct, but not what this counts).
    profile = dataclasses.replace(profile, timeout=60.0)
    n = 48
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)
    with LLMClient(pool_size=n) as shared:

        def call(i):
            barrier.wait()
            out = shared.chat(
                profile,
                [{"role": "user", "content": f"task {i}"}],
                headers={"X-Legato-Run": f"run-{i}"},
            )
            with lock:
                results.append(out.content)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == n
    assert sorted(results) == sorted(
        f"Fake LLM reply for movement unknown. Task: task {i}\nDone." for i in range(n)
    )
    # What must hold however busy the machine is: every call was answered exactly once,
    # and no run ever had two calls in flight. How many ran at once is a speed figure.
    assert len(fake.chat_requests) == n
    assert all(len(fake.calls_for(f"run-{i}")) == 1 for i in range(n))
    assert all(fake.max_concurrent_for(f"run-{i}") == 1 for i in range(n))


# -- demo provider ----------------------------------------------------------------------


def test_demo_provider_is_offline_and_deterministic(client, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the demo provider must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    demo = LLMProfile(base_url=None)
    msgs = [
        {"role": "system", "content": "persona"},
        {"role": "user", "content": "Write a haiku\nabout autumn\nin Kyoto\nfor a card\nok"},
    ]
    one = client.chat(demo, msgs, tools=TOOLS)
    two = client.chat(demo, msgs)
    assert one.content == two.content
    assert one.content.endswith("Done.")
    assert "Write a haiku" in one.content and "about autumn" in one.content
    assert "for a card" not in one.content  # a brief summary, not an echo
    assert one.model == "demo" and one.attempts == 1 and one.finish_reason == "stop"
    assert one.tool_calls == []
    assert one.usage.prompt_tokens > 0 and one.usage.completion_tokens > 0
    other = client.chat(demo, [{"role": "user", "content": "Something else"}])
    assert other.content != one.content
    assert client.list_models(demo) == ["demo"]


def test_demo_mentions_the_movement(client):
    demo = LLMProfile(base_url=None)
    out = client.chat(demo, MSGS, headers={"X-Legato-Movement": "review"})
    assert "review" in out.content


# -- model discovery --------------------------------------------------------------------


def test_list_models_openai_style_with_bearer(fake, client, profile):
    fake.models = ["gpt-x", "gpt-y"]
    keyed = dataclasses.replace(profile, api_key="sk-list")
    assert client.list_models(keyed) == ["gpt-x", "gpt-y"]
    (rec,) = fake.requests
    assert rec.path == "/v1/models"
    assert rec.headers["Authorization"] == "Bearer sk-list"


def test_list_models_falls_back_to_ollama_tags(fake, client, profile):
    fake.models = ["llama3:latest", "qwen2:7b"]
    fake.ollama_only = True
    assert client.list_models(profile) == ["llama3:latest", "qwen2:7b"]
    assert [r.path for r in fake.requests] == ["/v1/models", "/api/tags"]


def test_list_models_unreachable(client, closed_url):
    with pytest.raises(LLMError) as err:
        client.list_models(LLMProfile(closed_url))
    assert err.value.unreachable is True


def test_list_models_auth_failure_is_not_masked_by_the_fallback(fake, client, profile):
    # A 401 on /models means a wrong key, not "this might be Ollama".
    fake.require_api_key = "sk-right"
    with pytest.raises(LLMError) as err:
        client.list_models(dataclasses.replace(profile, api_key="sk-wrong"))
    assert err.value.status == 401
    assert err.value.unreachable is False
    assert [r.path for r in fake.requests] == ["/v1/models"]
    assert client.list_models(dataclasses.replace(profile, api_key="sk-right")) == ["fake-model"]


def test_list_models_when_nothing_lists_models(fake, client):
    profile = LLMProfile(fake.root_url + "/elsewhere")
    with pytest.raises(LLMError) as err:
        client.list_models(profile)
    assert err.value.status == 404
    assert err.value.unreachable is False


def test_exhausted_content_failures_carry_no_http_status(fake, client, profile):
    fake.when(*always(no_choices()))
    with pytest.raises(LLMError) as err:
        client.chat(dataclasses.replace(profile, max_retries=1), MSGS)
    assert err.value.reason == "no choices"
    assert err.value.status is None and err.value.unreachable is False


def test_llm_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(LLMError("HTTP 503", attempts=4, status=503)))
    assert (err.reason, err.attempts, err.status, err.unreachable) == ("HTTP 503", 4, 503, False)
    assert str(err) == "HTTP 503 (after 4 attempts)"


def test_retries_are_logged_without_the_key(fake, client, profile, caplog):
    secret = "sk-do-not-log"
    fake.script(error(503))
    with caplog.at_level("INFO", logger="agents.llm"):
        client.chat(dataclasses.replace(profile, api_key=secret), MSGS)
    assert "HTTP 503 from endpoint" in caplog.text
    assert "attempt=1/4" in caplog.text
    assert secret not in caplog.text
