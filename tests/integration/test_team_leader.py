"""team_leader end to end: parts as runs of their own, at most max_parts at a time."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.fakellm import delay, text
from tests.integration.helpers import events, submit, wait_for_status

pytestmark = pytest.mark.integration


def _kind(kind: str):
    return lambda r: r.kind == kind


def parts(*ids: str, timeouts: dict[str, int] | None = None) -> str:
    limits = timeouts or {}
    return json.dumps(
        {
            "parts": [
                {
                    "id": i,
                    "title": f"part {i}",
                    "instruction": f"Do part {i}.",
                    "timeout_ms": limits.get(i),
                }
                for i in ids
            ]
        }
    )


def test_a_team_splits_the_work_and_its_aggregate_is_judged(client, worker, llm):
    # The first batch is at most max_parts (2); the leader adds p3 when asked for more.
    llm.when(_kind("decompose"), text(parts("p1", "p2")))
    more = json.loads(parts("p3"))
    llm.when(
        _kind("more_parts"),
        text(json.dumps({"done": False, "reasoning": "one more", **more})),
        text(json.dumps({"done": True, "reasoning": "enough", "parts": []})),
    )
    llm.when(
        lambda r: r.kind == "execute" and r.movement.startswith("build."),
        text("part result"),
    )
    job = submit(client, piece="team", max_attempts=1, instruction="build a shed")
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded", done["abort_reason"]

    leader = next(r for r in done["runs"] if r["name"] == "build")
    members = [r for r in done["runs"] if r["parent_run_id"] == leader["id"]]
    assert sorted(r["name"] for r in members) == ["build.p1", "build.p2", "build.p3"]
    assert all(r["kind"] == "part" and r["status"] == "completed" for r in members)
    assert leader["match_method"] == "structured_output"

    mine = [r for r in llm.chat_requests if r.job == job["id"]]
    assert Counter(r.kind for r in mine) == {
        "decompose": 1,
        "execute": 3,
        "more_parts": 2,
        "report": 1,
        "judge_structured": 1,
    }
    # A part's prompt is its instruction, sent in a fresh conversation with the part persona.
    part_calls = [r for r in mine if r.kind == "execute"]
    assert sorted(r.last_user_message for r in part_calls) == [
        "Do part p1.",
        "Do part p2.",
        "Do part p3.",
    ]
    assert all(len(r.messages) == 2 and r.messages[0]["role"] == "system" for r in part_calls)
    assert "You are a tester" in part_calls[0].messages[0]["content"]
    # Never more than max_parts (2) parts at once.
    started = [e for e in events(client, job["id"]) if e["kind"] == "part_started"]
    assert len(started) == 3
    # The aggregate is what Phase 2 and 3 see.
    judge = next(r for r in mine if r.kind == "judge_structured")
    assert "# build.md" in judge.last_user_message
    result = done["result"]
    assert result.startswith("## decomposition") and "## p3: part p3\npart result" in result


def test_a_team_whose_parts_all_fail_fails_the_movement(client, worker, llm):
    llm.when(_kind("decompose"), text(parts("only")))
    # empty answers are retried, then the part gives up
    llm.when(lambda r: r.movement == "build.only", *[text("")] * 10)
    job = submit(client, piece="team", max_attempts=1)
    done = wait_for_status(client, job["id"])
    assert done["status"] == "failed"
    assert done["abort_reason"].startswith(
        "Movement execution failed: All team leader parts failed: only: "
    )


def test_a_part_past_its_timeout_fails_and_the_team_goes_on(client, worker, llm):
    # The leader gives `slow` 1.5 s; its model never answers in time. TAKT aborts such a
    # part ("Part timeout after <ms>ms") and aggregates it as an error.
    llm.when(_kind("decompose"), text(parts("quick", "slow", timeouts={"slow": 1500})))
    llm.when(_kind("more_parts"), text(json.dumps({"done": True, "reasoning": "", "parts": []})))
    llm.when(lambda r: r.movement == "build.slow", delay(30.0, text("too late")))
    llm.when(lambda r: r.movement == "build.quick", text("quick result"))
    job = submit(client, piece="team", max_attempts=1)
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded", done["abort_reason"]
    by_name = {r["name"]: r for r in done["runs"]}
    assert by_name["build.quick"]["status"] == "completed"
    assert by_name["build.slow"]["status"] == "failed"
    assert by_name["build.slow"]["error"] == "Part timeout after 1500ms"
    assert "## slow: part slow\n[ERROR] Part timeout after 1500ms" in done["result"]
