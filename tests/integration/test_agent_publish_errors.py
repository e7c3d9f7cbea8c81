"""A broker that refuses a publish makes chat and agent tasks a clear 503, never a 500."""

from __future__ import annotations

import os

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def dead_broker(stack_env):
    """Point this process's producer at a port nobody listens on, for one test."""
    from app.config import reset_settings
    from app.contract import reset_producer

    saved = os.environ["BROKER_URL"]
    os.environ["BROKER_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    reset_settings()
    reset_producer()
    try:
        yield
    finally:
        os.environ["BROKER_URL"] = saved
        reset_settings()
        reset_producer()


def test_chat_and_task_answer_503_when_the_broker_is_down(client, dead_broker):
    made = client.post("/api/agents", json={"name": "unsent", "tier": "idle"})
    assert made.status_code == 201, made.get_json()

    chat = client.post("/api/agents/unsent/chat", json={"message": "hi"})
    assert chat.status_code == 503, chat.get_json()
    error = chat.get_json()["error"]
    assert error["code"] == "broker_unavailable" and "broker" in error["message"]

    task = client.post("/api/agents/unsent/tasks", json={"message": "do it"})
    assert task.status_code == 503, task.get_json()
    task_id = task.get_json()["error"]["details"]["task_id"]
    # The unsent task does not sit pending forever: it failed, saying why.
    shown = client.get(f"/api/agents/unsent/tasks/{task_id}").get_json()
    assert shown["status"] == "failed" and "broker" in shown["error"]
    client.delete("/api/agents/unsent")
