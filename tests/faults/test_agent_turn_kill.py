"""A worker SIGKILLed in the middle of an agent task: the turn's lease expires, the
recovery sweep hands it back to its queue, and another worker answers it once."""

from __future__ import annotations

import signal

import pytest
import requests

from tests.conftest import wait_until
from tests.fakellm import delay, text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_an_agent_task_whose_worker_dies_is_answered_once_by_another(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(scratch_db, private_redis.url)
    api = stack.api()
    first = stack.worker("worker1", concurrency=2)
    stack.beat()
    fake_llm.reset()
    asked = lambda r: r.headers.get("X-Legato-Agent") == "slowpoke"  # noqa: E731
    fake_llm.when(asked, delay(60.0, text("too late")), text("the answer"))

    resp = requests.post(f"{api}/api/agents", json={"name": "slowpoke", "tier": "auto"}, timeout=10)
    assert resp.status_code == 201, resp.text
    resp = requests.post(
        f"{api}/api/agents/slowpoke/tasks", json={"message": "think hard"}, timeout=10
    )
    assert resp.status_code == 202, resp.text
    task_url = f"{api}/api/agents/slowpoke/tasks/{resp.json()['id']}"

    wait_until(lambda: any(asked(r) for r in fake_llm.chat_requests), message="the turn's call")
    running = stack.sql("SELECT status, lease_owner FROM agent_tasks")
    assert [s for s, _ in running] == ["running"] and running[0][1]
    first.stop(sig=signal.SIGKILL)
    stack.worker("worker2", concurrency=2)

    def ended():
        task = requests.get(task_url, timeout=10).json()
        return task if task["status"] in ("succeeded", "failed") else None

    task = wait_until(ended, timeout=120, message="the task to end")
    assert (task["status"], task["reply"]) == ("succeeded", "the answer")
    [(attempts, lease_owner)] = stack.sql("SELECT attempts, lease_owner FROM agent_tasks")
    assert attempts == 2  # the killed claim, then the one that answered
    assert lease_owner != running[0][1]  # answered under a claim of its own
    assert len([r for r in fake_llm.chat_requests if asked(r)]) == 2


def test_an_agent_task_out_of_attempts_fails_with_a_clear_error(
    make_stack, scratch_db, private_redis, fake_llm
):
    stack = make_stack(scratch_db, private_redis.url, RUN_RETRY_BUDGET="0")
    api = stack.api()
    first = stack.worker("worker1", concurrency=2)
    stack.beat()
    fake_llm.reset()
    asked = lambda r: r.headers.get("X-Legato-Agent") == "doomed"  # noqa: E731
    fake_llm.when(asked, delay(60.0, text("too late")))

    requests.post(f"{api}/api/agents", json={"name": "doomed", "tier": "auto"}, timeout=10)
    resp = requests.post(f"{api}/api/agents/doomed/tasks", json={"message": "x"}, timeout=10)
    task_url = f"{api}/api/agents/doomed/tasks/{resp.json()['id']}"
    wait_until(lambda: any(asked(r) for r in fake_llm.chat_requests), message="the turn's call")
    first.stop(sig=signal.SIGKILL)
    stack.worker("sweeper", queues="maintenance")  # runs the beat's sweeps, no turns

    def ended():
        task = requests.get(task_url, timeout=10).json()
        return task if task["status"] in ("succeeded", "failed") else None

    task = wait_until(ended, timeout=120, message="the task to fail")
    assert task["status"] == "failed"
    assert "the worker running this turn stopped" in task["error"]
