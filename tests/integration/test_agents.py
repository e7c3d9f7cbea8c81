# ruff: noqa: F811 - pytest fixtures imported from agentkit are used as parameters
"""Agent turns that pause the job: ask_human, subtasks, delegation; and model fallback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import IDLE_TIER, ROOT, wait_until
from tests.fakellm import delay, text, tool_call, tool_calls
from tests.integration.agentkit import agent_worker, tool_pieces, workspace  # noqa: F401
from tests.integration.helpers import events, submit, wait_for_status

pytestmark = pytest.mark.integration


def on(movement: str, needle: str | None = None):
    def match(r) -> bool:
        return r.movement == movement and (needle is None or needle in r.prompt)

    return match


def kinds(client, job_id: str) -> list[str]:
    return [e["kind"] for e in events(client, job_id)]


def traces(client, job_id: str) -> list[dict]:
    return client.get(f"/api/jobs/{job_id}/traces").get_json()["items"]


def _ask_script(llm) -> None:
    llm.when(on("clarify", "navy blue"), text("The colour is navy blue."))
    llm.when(
        on("clarify"),
        tool_call("ask_human", {"question": "Which colour do you want?"}),
        text("Waiting for the answer."),
    )


def _wait_for_question(client, job_id: str) -> dict:
    waiting = wait_for_status(client, job_id, "waiting_human")
    asked = [e for e in events(client, job_id) if e["kind"] == "human_question"]
    assert [e["data"]["question"] for e in asked] == ["Which colour do you want?"]
    return waiting


def test_ask_human_round_trip_through_the_api(client, agent_worker, llm):
    _ask_script(llm)
    job = submit(client, piece="tools-ask", tier=IDLE_TIER, instruction="paint the shed")
    waiting = _wait_for_question(client, job["id"])
    assert [r["status"] for r in waiting["runs"]] == ["completed", "pending"]

    resp = client.post(f"/api/jobs/{job['id']}/answer", json={"answer": "navy blue"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"job_status": "queued", "resumed": True}

    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"] == "The colour is navy blue."
    # the same movement ran again, with the answer among its user inputs
    assert [r["name"] for r in done["runs"]] == ["clarify", "clarify"]
    assert "navy blue" in [r for r in llm.chat_requests if r.movement == "clarify"][-1].prompt
    assert {"human_question", "waiting_input", "human_answered", "job_resumed"} <= set(
        kinds(client, job["id"])
    )
    # answering a job that is not waiting is a 409 in the JSON error shape
    again = client.post(f"/api/jobs/{job['id']}/answer", json={"answer": "red"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "illegal_state"


def test_answer_rejects_bad_input(client, agent_worker):
    job = submit(client, piece="tools-plain", tier=IDLE_TIER)
    for body, status in (({}, 422), ({"answer": ""}, 422), ({"answer": 3}, 422), ({"x": 1}, 422)):
        resp = client.post(f"/api/jobs/{job['id']}/answer", json=body)
        assert resp.status_code == status, (body, resp.get_json())
        assert set(resp.get_json()["error"]) >= {"code", "message"}
    missing = client.post(
        "/api/jobs/00000000-0000-0000-0000-000000000000/answer", json={"answer": "x"}
    )
    assert missing.status_code == 404


def test_ask_human_round_trip_through_the_cli(client, agent_worker, llm, live_api, stack_env):
    _ask_script(llm)
    job = submit(client, piece="tools-ask", tier=IDLE_TIER, instruction="paint the fence")
    _wait_for_question(client, job["id"])

    out = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "answer", job["id"], "navy blue please"],
        env={**os.environ, **stack_env, "LEGATO_API_URL": live_api},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"job {job['id']} queued" in out.stdout

    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded"
    assert (
        "navy blue please" in [r for r in llm.chat_requests if r.movement == "clarify"][-1].prompt
    )


def test_subtasks_limits_and_the_parent_resumes(client, agent_worker, llm, stack_env, db_session):
    from app.models import Job

    # The parent's re-run sees both results among its inputs.
    llm.when(on("split", "Subtask 2 ("), text("Merged both."))
    # Child 2 runs the same piece one level down: SUBTASK_MAX_DEPTH=1 refuses a grandchild.
    llm.when(
        on("split", "go one level deeper"),
        tool_call("spawn_subtask", {"title": "grandchild", "instruction": "x"}),
        text("Could not go deeper."),
    )
    llm.when(
        on("split"),
        tool_calls(
            ("spawn_subtask", {"title": "first", "instruction": "one", "piece": "tools-plain"}),
            (
                "spawn_subtask",
                {"title": "second", "instruction": "go one level deeper", "piece": "tools-spawn"},
            ),
            ("spawn_subtask", {"title": "third", "instruction": "three", "piece": "tools-plain"}),
        ),
        text("Spawned."),
    )
    llm.when(on("answer"), delay(0.5, text("child result")))

    job = submit(client, piece="tools-spawn", tier=IDLE_TIER, instruction="split the work")
    done = wait_for_status(client, job["id"], timeout=90)

    assert done["status"] == "succeeded", done
    assert done["result"] == "Merged both."
    assert [r["name"] for r in done["runs"]] == ["split", "split"]
    parent_traces = traces(client, job["id"])
    assert [t["outcome"] for t in parent_traces] == ["ok", "ok", "error"]
    assert "subtask limit reached" in parent_traces[2]["error"]
    children = db_session.query(Job).filter(Job.parent_job_id == job["id"]).order_by(Job.created_at)
    children = children.all()
    assert [(c.subtask_depth, c.status, c.owner_id, c.tier) for c in children] == [
        (1, "succeeded", "local", IDLE_TIER),
        (1, "succeeded", "local", IDLE_TIER),
    ]
    nested = traces(client, str(children[1].id))
    assert [t["tool"] for t in nested] == ["spawn_subtask"]
    assert "depth limit reached" in nested[0]["error"]
    ws = workspace(stack_env, job["id"])
    assert "child result" in (ws / "subtasks" / "1" / "result.md").read_text()
    assert "Could not go deeper" in (ws / "subtasks" / "2" / "result.md").read_text()
    seen = kinds(client, job["id"])
    assert seen.count("subtask_spawned") == 2 and seen.count("subtask_ended") == 2
    assert "waiting_subtasks" in seen or seen.index("subtask_ended") < seen.index(
        "movement_completed"
    )


def test_movement_model_falls_back_with_a_warning(client, agent_worker, llm):
    llm.when(on("pick"), text("picked"))
    job = submit(client, piece="tools-model", tier=IDLE_TIER)
    done = wait_for_status(client, job["id"])

    assert done["status"] == "succeeded"
    [warning] = [e["data"] for e in events(client, job["id"]) if e["kind"] == "model_fallback"]
    assert warning["wanted"] == "no-such-model" and warning["model"] == "fake-model"
    assert warning["run_id"] == done["runs"][0]["id"]
    assert [r.json["model"] for r in llm.chat_requests if r.movement == "pick"] == ["fake-model"]


def _agent(client, **body) -> dict:
    body.setdefault("tier", IDLE_TIER)
    resp = client.post("/api/agents", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_delegate_sync_and_async(client, agent_worker, llm):
    _agent(client, name="helper", system_prompt="You are the helper agent.")
    llm.when(lambda r: r.headers.get("X-Legato-Agent") == "helper", text("four"))
    llm.when(on("respond"), text("async answer"))
    llm.when(on("split", "Subtask 1 ("), text("Got both answers."))
    llm.when(
        on("split"),
        tool_calls(
            ("delegate_to_agent", {"agent": "helper", "message": "what is 2+2", "mode": "sync"}),
            ("delegate_to_agent", {"agent": "helper", "message": "later please", "mode": "async"}),
            ("delegate_to_agent", {"agent": "nobody", "message": "hi"}),
        ),
        text("Delegated."),
    )

    job = submit(client, piece="tools-spawn", tier=IDLE_TIER, instruction="ask around")
    done = wait_for_status(client, job["id"], timeout=90)

    assert done["status"] == "succeeded", done
    sync, async_, missing = traces(client, job["id"])[:3]
    assert (sync["outcome"], sync["output"]) == ("ok", "four")
    assert async_["outcome"] == "ok" and "started as job" in async_["output"]
    assert missing["outcome"] == "error" and "no agent named 'nobody'" in missing["error"]
    # the async child ran the helper agent's movement, with the helper's system prompt
    [child_call] = [r for r in llm.chat_requests if r.movement == "respond"]
    assert child_call.messages[0] == {"role": "system", "content": "You are the helper agent."}
    # the sync delegate's LLM call counts towards the parent's first run
    assert done["runs"][0]["tokens_in"] == 3 * 10
    assert "later please" in child_call.prompt


def test_movement_naming_a_dedicated_agent_runs_on_its_queue(client, agent_worker, llm):
    resp = client.post(
        "/api/agents",
        json={"name": "solo", "tier": IDLE_TIER, "dedicated": True, "system_prompt": "Solo here."},
    )
    assert resp.status_code in (201, 409), resp.get_json()
    client.patch("/api/agents/solo", json={"system_prompt": "Solo here.", "dedicated": True})
    llm.when(on("delegate"), text("solo did it"))

    job = submit(client, piece="tools-agent", tier=IDLE_TIER)
    done = wait_for_status(client, job["id"])

    assert done["status"] == "succeeded", done
    assert [r["tier"] for r in done["runs"]] == ["agent.solo"]
    rerouted = [e["data"] for e in events(client, job["id"]) if e["kind"] == "movement_rerouted"]
    assert rerouted == [{"movement": "delegate", "queue": "agent.solo"}]
    [call] = [r for r in llm.chat_requests if r.movement == "delegate"]
    assert call.messages[0] == {"role": "system", "content": "Solo here."}


def test_movement_naming_an_unknown_agent_fails_clearly(client, agent_worker):
    job = submit(client, piece="tools-ghost", tier=IDLE_TIER, max_attempts=1)
    done = wait_for_status(client, job["id"])
    assert done["status"] == "failed"
    assert "agent 'ghost'" in (done["error_summary"] or "") + (done["abort_reason"] or "")


def test_cancelling_a_parent_cancels_its_running_subtasks(client, agent_worker, llm, db_session):
    from app.models import Job

    llm.when(
        on("split"),
        tool_call("spawn_subtask", {"title": "slow", "instruction": "x", "piece": "tools-plain"}),
        text("Spawned."),
    )
    llm.when(on("answer"), delay(2.0, text("late")))
    job = submit(client, piece="tools-spawn", tier=IDLE_TIER, instruction="cascade")
    wait_for_status(client, job["id"], "waiting_subtasks")

    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200

    def child_status():
        db_session.rollback()
        [child] = db_session.query(Job).filter(Job.parent_job_id == job["id"]).all()
        return child.status if child.status in ("cancelled", "succeeded", "failed") else None

    assert wait_until(child_status, message="the child to end") == "cancelled"
