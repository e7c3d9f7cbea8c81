"""callback_url: the result is POSTed signed when the job ends, retried with backoff,
every try listed in the job's events; internal targets are refused."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.callbacks import verify
from tests.conftest import wait_until
from tests.faults.harness import *  # noqa: F403 - the stack fixtures

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-tests"


class Receiver:
    """A real HTTP receiver that fails the first `fail_first` deliveries with a 500."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.deliveries: list[tuple[bytes, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries.append((body, dict(self.headers)))
                status = 500 if len(receiver.deliveries) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = Receiver(fail_first=2)
    yield made
    made.close()


def test_callback_is_signed_retried_and_listed_in_events(
    make_stack, scratch_db, private_redis, llm, receiver
):
    stack = make_stack(
        scratch_db,
        private_redis.url,
        CALLBACK_SECRET=SECRET,
        CALLBACK_ALLOW_HOSTS="127.0.0.1",
        CALLBACK_BACKOFF_SECONDS="0.2",
    )
    stack.api()
    stack.worker()

    job = stack.submit(piece="demo", callback_url=receiver.url)
    assert job["callback_url"] == receiver.url
    stack.wait_all([job["id"]])

    def delivered():
        return [e for e in stack.events(job["id"]) if e["kind"] == "callback_delivered"]

    wait_until(delivered, timeout=60, message="the callback to be delivered")
    kinds = [e["kind"] for e in stack.events(job["id"]) if e["kind"].startswith("callback_")]
    assert kinds == [
        "callback_scheduled",
        "callback_failed",
        "callback_failed",
        "callback_delivered",
    ]
    assert len(receiver.deliveries) == 3
    body, headers = receiver.deliveries[-1]
    assert verify(body, headers, SECRET)
    assert not verify(body + b" ", headers, SECRET)
    # Every try is the same message (one webhook-id, so receivers can deduplicate),
    # each signed over its own timestamp.
    assert {h["webhook-id"] for _, h in receiver.deliveries} == {f"job-{job['id']}"}
    assert all(verify(b, h, SECRET) for b, h in receiver.deliveries)
    payload = json.loads(body)
    assert payload["job_id"] == job["id"]
    assert payload["status"] == "succeeded"
    assert payload["result"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://metadata.google.internal/computeMetadata",
        "http://100.100.100.200/latest/meta-data",
        "http://192.0.0.8/x",
        "http://[::ffff:127.0.0.1]/x",
    ],
)
def test_internal_callback_targets_are_refused(client, url):
    resp = client.post("/api/jobs", json={"instruction": "x", "callback_url": url})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == "callback_refused"


@pytest.mark.parametrize(
    "value", ["ftp://example.com/x", "not a url", "", 5, "http://" + "a" * 2000]
)
def test_malformed_callback_urls_are_422(client, value):
    resp = client.post("/api/jobs", json={"instruction": "x", "callback_url": value})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://100.64.0.1/x", "http://instance-data/latest"]
)
def test_internal_agent_task_callbacks_are_refused_at_submit(client, url):
    assert client.post("/api/agents", json={"name": "hooked", "tier": "idle"}).status_code in (
        201,
        409,
    )
    resp = client.post("/api/agents/hooked/tasks", json={"message": "x", "callback_url": url})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == "callback_refused"
    listed = client.get("/api/agents/hooked/tasks").get_json()["items"]
    assert not [t for t in listed if t["callback_url"] == url]  # nothing was queued
