# ruff: noqa: F811 - pytest fixtures imported from agentkit are used as parameters
"""The agent registry, chat sessions and memory, agent tasks with signed callbacks."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import create_app
from app.callbacks import verify
from app.config import Settings
from swarm.specs import agent_queue
from tests.conftest import IDLE_TIER, wait_until
from tests.fakellm import text
from tests.integration.agentkit import SOLO_QUEUE, TOOL_ENV, agent_worker, tool_pieces  # noqa: F401

pytestmark = pytest.mark.integration


def agent_calls(llm, name: str):
    return [r for r in llm.chat_requests if r.headers.get("X-Legato-Agent") == name]


def create(client, expect: int = 201, **body) -> dict:
    body.setdefault("tier", IDLE_TIER)
    resp = client.post("/api/agents", json=body)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def test_agent_crud_and_validation(client):
    made = create(
        client,
        name="crud-one",
        model="fake-model",
        system_prompt="be brief",
        allowed_tools=["Read", "Grep"],
        max_tool_calls=3,
        temperature=0.2,
    )
    assert made["queue"] == IDLE_TIER and made["dedicated"] is False
    assert made["allowed_tools"] == ["Read", "Grep"]

    dup = create(client, 409, name="crud-one")
    assert dup["error"]["code"] == "exists"
    for bad in (
        {"name": "Bad Name"},
        {"name": "ok-name", "allowed_tools": ["Teleport"]},
        {"name": "ok-name", "temperature": 3},
        {"name": "ok-name", "max_tool_calls": -1},
        {"name": "ok-name", "extra": 1},
        {"name": "ok-name", "tier": "nope"},
    ):
        err = create(client, 422, **bad)
        assert set(err["error"]) >= {"code", "message"}, bad

    patched = client.patch("/api/agents/crud-one", json={"dedicated": True, "model": None})
    assert patched.status_code == 200
    assert patched.get_json()["queue"] == agent_queue("crud-one", owner="local")
    assert patched.get_json()["model"] is None
    names = [a["name"] for a in client.get("/api/agents").get_json()["items"]]
    assert "crud-one" in names
    assert client.delete("/api/agents/crud-one").status_code == 204
    assert client.get("/api/agents/crud-one").status_code == 404
    assert client.post("/api/agents/crud-one/chat", json={"message": "hi"}).status_code == 404


def test_chat_keeps_a_session_and_memory(client, agent_worker, llm):
    create(client, name="chatty", system_prompt="You are chatty.")
    llm.when(lambda r: r.headers.get("X-Legato-Agent") == "chatty", text("hello!"), text("again!"))

    first = client.post("/api/agents/chatty/chat", json={"message": "hi there"})
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["reply"] == "hello!" and body["resumed"] is False
    sid = body["session_id"]

    second = client.post("/api/agents/chatty/chat", json={"message": "me again", "session_id": sid})
    assert second.get_json()["reply"] == "again!"
    last = agent_calls(llm, "chatty")[-1]
    assert last.messages == [
        {"role": "system", "content": "You are chatty."},
        {"role": "user", "content": "hi there"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": "me again"},
    ]

    memory = client.get(f"/api/agents/chatty/memory?session_id={sid}").get_json()
    assert memory["window"] == 20 and memory["expired"] is False
    assert [(m["role"], m["content"]) for m in memory["messages"]] == [
        ("user", "hi there"),
        ("assistant", "hello!"),
        ("user", "me again"),
        ("assistant", "again!"),
    ]
    # the window is CHAT_MEMORY_MESSAGES long: the newest messages, oldest first
    from app import create_app
    from app.config import Settings

    narrow = create_app(Settings(chat_memory_messages=2)).test_client()
    window = narrow.get(f"/api/agents/chatty/memory?session_id={sid}").get_json()
    assert [m["content"] for m in window["messages"]] == ["me again", "again!"]
    unknown = client.get(
        "/api/agents/chatty/memory?session_id=00000000-0000-0000-0000-000000000000"
    )
    assert unknown.status_code == 404
    assert client.get("/api/agents/chatty/memory").status_code == 422
    bad = client.post("/api/agents/chatty/chat", json={"message": "x", "session_id": "nope"})
    assert bad.status_code == 422


def test_expired_session_resumes_with_its_history(client, agent_worker, worker, llm, db_session):
    from sqlalchemy import update

    from app.chat import ChatSession
    from app.contract import producer

    create(client, name="sleepy")
    llm.when(lambda r: r.headers.get("X-Legato-Agent") == "sleepy", text("first"), text("second"))
    sid = client.post("/api/agents/sleepy/chat", json={"message": "remember 42"}).get_json()[
        "session_id"
    ]
    # Idle for longer than CHAT_SESSION_TTL_MINUTES (30): the beat sweep expires it.
    db_session.execute(
        update(ChatSession)
        .where(ChatSession.id == sid)
        .values(last_active_at=ChatSession.last_active_at - timedelta(hours=1))
    )
    db_session.commit()
    producer().send_task(
        "legato.maintenance.expire_sessions", queue="maintenance", routing_key="maintenance"
    )
    wait_until(
        lambda: client.get(f"/api/agents/sleepy/memory?session_id={sid}").get_json()["expired"],
        message="the session to expire",
    )

    again = client.post(
        "/api/agents/sleepy/chat", json={"message": "what number?", "session_id": sid}
    )
    assert again.status_code == 200
    assert again.get_json()["resumed"] is True and again.get_json()["session_id"] == sid
    assert "remember 42" in agent_calls(llm, "sleepy")[-1].prompt
    memory = client.get(f"/api/agents/sleepy/memory?session_id={sid}").get_json()
    assert memory["expired"] is False and len(memory["messages"]) == 4


def test_dedicated_agent_runs_on_its_own_queue(client, agent_worker, llm):
    # test_agents may have registered "solo" already (same owner, same database)
    client.post("/api/agents", json={"name": "solo", "tier": IDLE_TIER, "dedicated": True})
    assert client.get("/api/agents/solo").get_json()["queue"] == SOLO_QUEUE
    llm.when(lambda r: r.headers.get("X-Legato-Agent") == "solo", text("solo reply"))

    resp = client.post("/api/agents/solo/chat", json={"message": "anyone?"})

    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["reply"] == "solo reply"


class Receiver:
    """A callback receiver that fails its first delivery, then accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.failures_left = 1
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                status = 500 if outer.failures_left > 0 else 200
                outer.failures_left -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_agent_task_returns_at_once_and_calls_back_signed(client, agent_worker, llm):
    create(client, name="tasker")
    llm.when(lambda r: r.headers.get("X-Legato-Agent") == "tasker", text("task result"))
    receiver = Receiver()
    # The API checks the callback at submit: this one is allowed to reach 127.0.0.1.
    hooks = create_app(Settings(callback_allow_hosts=("127.0.0.1",))).test_client()
    try:
        resp = hooks.post(
            "/api/agents/tasker/tasks", json={"message": "do it", "callback_url": receiver.url}
        )
        assert resp.status_code == 202, resp.get_json()
        task = resp.get_json()
        assert task["status"] in ("pending", "running")

        done = wait_until(
            lambda: (
                (t := client.get(f"/api/agents/tasker/tasks/{task['id']}").get_json())[
                    "callback_status"
                ]
                and t
            ),
            message="the callback to be delivered",
        )
    finally:
        receiver.server.shutdown()

    assert done["status"] == "succeeded" and done["reply"] == "task result"
    assert done["callback_status"].startswith("delivered")
    assert len(receiver.received) == 2  # one failure, then the retry
    headers, body = receiver.received[-1]
    assert verify(body, headers, TOOL_ENV["CALLBACK_SECRET"])
    assert receiver.received[0][0]["webhook-id"] == headers["webhook-id"]  # one message
    payload = json.loads(body)
    assert payload["task_id"] == task["id"] and payload["reply"] == "task result"
    listed = client.get("/api/agents/tasker/tasks").get_json()["items"]
    assert [t["id"] for t in listed] == [task["id"]]
    assert client.get("/api/agents/tasker/tasks?limit=0").status_code == 422


def test_agents_cli_creates_lists_and_chats(client, agent_worker, llm, live_api, stack_env):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    def legato(*args):
        return subprocess.run(
            [sys.executable, "-m", "app.cli.main", *args],
            env={**os.environ, **stack_env, "LEGATO_API_URL": live_api},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    llm.when(lambda r: r.headers.get("X-Legato-Agent") == "clippy", text("cli reply"))
    made = legato("agents", "create", "clippy", "--tier", IDLE_TIER, "--tool", "Read")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["allowed_tools"] == ["Read"]
    listed = legato("agents", "ls")
    assert "clippy" in listed.stdout and "Read" in listed.stdout
    chatted = legato("agents", "chat", "clippy", "hello")
    assert chatted.returncode == 0, chatted.stderr
    assert chatted.stdout.strip() == "cli reply" and chatted.stderr.startswith("session ")
    dup = legato("agents", "create", "clippy", "--tier", IDLE_TIER)
    assert dup.returncode != 0 and "already exists" in dup.stderr
