"""Agent chat and agent tasks under `legato run` (SQLite + Kombu's SQLAlchemy transport).

SQLite has one writer at a time; a request that keeps a transaction open after its
commit (an expired ORM row read back) holds that lock while the worker needs it.
These run the real embedded stack in token mode, as a user would.
"""

from __future__ import annotations

import pytest
import requests

from tests.conftest import wait_until
from tests.integration.embedded import embedded_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with embedded_stack(tmp_path_factory.mktemp("embedded-agents"), AUTH_MODE="token") as s:
        yield s


def _api(stack, token: str):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, stack.base + path, timeout=180, **kwargs)

    return call


def test_chat_and_tasks_answer_in_embedded_mode(stack):
    api = _api(stack, stack.token("alice"))
    made = api("POST", "/api/agents", json={"name": "helper", "system_prompt": "Be brief."})
    assert made.status_code == 201, made.text

    first = api("POST", "/api/agents/helper/chat", json={"message": "hello there"})
    assert first.status_code == 200, first.text + stack.tail()
    reply = first.json()
    assert "offline demo agent" in reply["reply"] and "> hello there" in reply["reply"]

    again = api(
        "POST",
        "/api/agents/helper/chat",
        json={"message": "and again", "session_id": reply["session_id"]},
    )
    assert again.status_code == 200, again.text + stack.tail()
    assert again.json()["session_id"] == reply["session_id"]
    memory = api("GET", f"/api/agents/helper/memory?session_id={reply['session_id']}").json()
    assert [m["role"] for m in memory["messages"]] == ["user", "assistant"] * 2

    task = api("POST", "/api/agents/helper/tasks", json={"message": "summarise this"})
    assert task.status_code == 202, task.text + stack.tail()
    task_id = task.json()["id"]

    def finished():
        body = api("GET", f"/api/agents/helper/tasks/{task_id}").json()
        return body if body["status"] in ("succeeded", "failed") else None

    done = wait_until(finished, timeout=120, interval=0.5, message="the agent task to end")
    assert done["status"] == "succeeded", done
    assert "> summarise this" in done["reply"]
    assert "database is locked" not in stack.tail(200_000)
