"""Retry and replay of finished jobs, on a real worker with files in the workspace."""

from __future__ import annotations

import pytest

from tests.fakellm import text, tool_call
from tests.integration.helpers import (
    get_job,
    judgment,
    movement,
    structured_step,
    submit,
    wait_for_status,
)

pytestmark = pytest.mark.integration


def _workspace(stack_env, job_id: str):
    from pathlib import Path

    return Path(stack_env["LEGATO_DATA_DIR"]) / "workspaces" / job_id


def test_replay_from_the_second_movement_restores_the_workspace(client, worker, llm, stack_env):
    llm.when(
        movement("one"), tool_call("Write", {"path": "a.txt", "content": "A1"}), text("a done")
    )
    llm.when(
        movement("two"), tool_call("Write", {"path": "b.txt", "content": "B1"}), text("b done")
    )
    job = submit(client, piece="files", max_attempts=1)
    first = wait_for_status(client, job["id"])
    assert first["status"] == "succeeded", first["abort_reason"]
    folder = _workspace(stack_env, job["id"])
    assert (folder / "a.txt").read_text() == "A1" and (folder / "b.txt").read_text() == "B1"

    # In the replay, two writes nothing: whatever it finds was restored, not left over.
    llm.reset()
    llm.when(movement("two"), text("nothing to write"))
    resp = client.post(f"/api/jobs/{job['id']}/replay", json={"movement": "two"})
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["attempt"] == 2
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded"
    assert (folder / "a.txt").read_text() == "A1"
    assert not (folder / "b.txt").exists()

    by_attempt = {a: [r for r in done["runs"] if r["attempt"] == a] for a in (1, 2)}
    # The first attempt's runs are unchanged; the second starts with a copy of "one".
    assert [(r["name"], r["output"]) for r in by_attempt[1]] == [
        (r["name"], r["output"]) for r in first["runs"]
    ]
    assert [r["name"] for r in by_attempt[2]] == ["one", "two"]
    assert by_attempt[2][0]["output"] == by_attempt[1][0]["output"]
    assert [r.movement for r in llm.chat_requests] == ["two"]  # "one" did not run again
    replayed = next(r for r in llm.chat_requests if r.movement == "two")
    assert "a done" in replayed.last_user_message  # the previous response came along


def test_replay_refusals(client, worker, llm):
    llm.when(movement("one"), text("a"))
    job = submit(client, piece="files", max_attempts=1)
    wait_for_status(client, job["id"])
    url = f"/api/jobs/{job['id']}/replay"
    cases = [
        ({"movement": "nope"}, 422, "replay_refused"),
        ({"movement": "two", "attempt": 5}, 422, "replay_refused"),
        ({"movement": "two", "iteration": 9}, 422, "replay_refused"),
        ({"movement": ""}, 422, "invalid"),
        ({"movement": "two", "extra": 1}, 422, "invalid"),
    ]
    for body, status, code in cases:
        resp = client.post(url, json=body)
        assert resp.status_code == status, (body, resp.get_json())
        assert resp.get_json()["error"]["code"] == code
    assert get_job(client, job["id"])["attempt"] == 1  # nothing happened


def test_a_running_job_cannot_be_replayed_or_retried(client, worker, llm):
    job = submit(client, piece="files", tier="idle")
    for action, body in (("replay", {"movement": "one"}), ("retry", None)):
        resp = client.post(f"/api/jobs/{job['id']}/{action}", json=body)
        assert resp.status_code == 409, resp.get_json()
        assert resp.get_json()["error"]["code"] == "illegal_state"


def test_retry_starts_a_failed_job_over_with_a_handoff(client, worker, llm):
    # gather's judgment picks "Nothing to gather" (ABORT) first, then "Facts gathered".
    llm.when(judgment("gather"), structured_step(2), structured_step(1))
    job = submit(client, piece="linear", max_attempts=1)
    failed = wait_for_status(client, job["id"])
    assert failed["status"] == "failed"
    assert failed["abort_reason"] == "Piece aborted by movement transition"

    resp = client.post(f"/api/jobs/{job['id']}/retry")
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["attempt"] == 2
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded"
    assert [r["name"] for r in done["runs"] if r["attempt"] == 2] == [
        "gather",
        "summarise",
        "publish",
    ]
    gathers = [r for r in llm.chat_requests if r.movement == "gather" and r.kind == "execute"]
    assert "## Retry Note" not in gathers[0].last_user_message
    assert "## Retry Note" in gathers[1].last_user_message
    assert "Piece aborted by movement transition" in gathers[1].last_user_message
    assert client.post(f"/api/jobs/{job['id']}/retry").status_code == 409  # succeeded now
