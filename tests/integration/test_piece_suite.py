"""Every scenario of tests/piece_suite/README.md, end to end on a real worker.

The fake LLM answers each movement as the scenario scripts it (keyed by the
X-Legato-Movement header), and the job must take exactly the documented path and
end the documented way: the same table the pure reference walk is checked against.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import wait_until
from tests.fakellm import text
from tests.integration.helpers import get_job, submit, wait_for_status
from tests.unit.pieces.simulator import Script
from tests.unit.pieces.test_piece_suite import ROWS

pytestmark = pytest.mark.integration


def _purpose(record) -> str:
    return record.headers.get("X-Legato-Purpose", "")


def _agent_call(name: str):
    return lambda r: r.movement == name and _purpose(r) != "judge"


def _judge_call(name: str, visit: int):
    marker = f"Answer from {name} (visit {visit})."
    return lambda r: r.movement == name and _purpose(r) == "judge" and marker in r.prompt


def program(llm, script: Script) -> None:
    """One scripted reply per visit; an unscripted visit (or judge) answers [STEP:0]."""
    for name, tokens in script.tokens.items():
        replies = []
        for visit, token in enumerate(tokens, 1):
            agent, _, judge = token.partition("/")
            body = f"Answer from {name} (visit {visit})."
            replies.append(text(body if agent == "-" else f"{body}\n[STEP:{agent}]"))
            if judge:
                llm.when(_judge_call(name, visit), text(f"[STEP:{judge}]"))
        replies.append(text(f"Answer from {name} (a later visit).\n[STEP:0]"))
        llm.when(_agent_call(name), *replies)


def _reason_expected(end: str, reason: str) -> bool:
    expected = end.removeprefix("ABORT: ")
    if expected.startswith("no rule matched in "):
        movement = expected.removeprefix("no rule matched in ")
        return expected in reason or f'no rule of "{movement}" matched' in reason
    return expected in reason


@pytest.mark.parametrize("row", ROWS, ids=[f"{r[0]}-{r[1]}" for r in ROWS])
def test_scenario(client, worker, llm, row):
    _, piece, answers, path, notes, end = row
    program(llm, Script.parse(answers))
    # One attempt: the scenarios are about routing; an ABORT would otherwise be retried.
    job = submit(client, piece=piece, instruction=f"scenario for {piece}", max_attempts=1)

    waits = notes.count("input(after ")
    for n in range(waits):
        wait_for_status(client, job["id"], "waiting_human")
        resp = client.post(f"/api/jobs/{job['id']}/inputs", json={"text": f"user input {n + 1}"})
        assert resp.status_code == 201, resp.get_json()
    done = wait_for_status(client, job["id"])

    top_level = [r for r in done["runs"] if r["parent_run_id"] is None]
    assert [r["name"] for r in top_level] == path
    if end == "COMPLETE":
        assert done["status"] == "succeeded", done["abort_reason"]
    else:
        assert done["status"] == "failed"
        assert _reason_expected(end, done["abort_reason"]), done["abort_reason"]

    calls = [r for r in llm.requests if r.headers.get("X-Legato-Job") == job["id"]]
    judged = [r.movement for r in calls if _purpose(r) == "judge"]
    assert sorted(judged) == sorted(re.findall(r"(?<!loop-)judge\(([^)]+)\)", notes))
    loop_judges = [r for r in calls if _purpose(r) == "loop-judge"]
    counts = re.findall(r"loop-judge\([^,]+, cycle_count=(\d+)\)", notes)
    assert len(loop_judges) == len(counts)
    for count, call in zip(counts, loop_judges, strict=True):
        assert f"check and redo have alternated {count} times" in call.prompt


def test_tiers_piece_runs_each_movement_on_its_tier(client, worker, llm):
    done = wait_for_status(client, submit(client, piece="tiers", tier="auto")["id"])
    tiers = {r["name"]: r["tier"] for r in done["runs"]}
    assert tiers == {
        "scout": "fast",
        "analyse": "auto",
        "quick": "fast",
        "deep": "quality",
        "conclude": "quality",
        "wrap": "auto",
    }


def test_reports_are_stored_and_fed_to_later_prompts(client, worker, llm):
    done = wait_for_status(client, submit(client, piece="reports")["id"])
    listing = client.get(f"/api/jobs/{done['id']}/reports").get_json()["items"]
    assert {r["name"] for r in listing} == {"outline.md", "verdict.md"}
    outline = client.get(f"/api/jobs/{done['id']}/reports/outline.md").get_json()
    assert outline["content"] == done["runs"][0]["output"].replace("[STEP:0]", "").rstrip()
    assert client.get(f"/api/jobs/{done['id']}/reports/draft.md").status_code == 404
    first_prompt = next(r.prompt for r in llm.requests if r.movement == "outline")
    assert "(report draft.md has not been written yet in this job)" in first_prompt


def test_user_inputs_reach_later_prompts(client, worker, llm):
    job = submit(client, piece="user-inputs")
    wait_for_status(client, job["id"], "waiting_human")
    assert get_job(client, job["id"])["current_activity"].startswith("waiting for user input")
    client.post(f"/api/jobs/{job['id']}/inputs", json={"text": "use the blue one"})
    done = wait_for_status(client, job["id"])
    assert done["status"] == "succeeded"
    answer_prompt = next(r.prompt for r in llm.requests if r.movement == "answer")
    assert "- use the blue one" in answer_prompt


def test_input_to_a_finished_job_is_a_conflict(client, worker, llm):
    done = wait_for_status(client, submit(client, piece="demo")["id"])
    resp = client.post(f"/api/jobs/{done['id']}/inputs", json={"text": "too late"})
    assert resp.status_code == 409


def test_parallel_sub_movements_run_as_separate_tasks(client, worker, llm):
    done = wait_for_status(client, submit(client, piece="parallel")["id"])
    reviewers = next(r for r in done["runs"] if r["name"] == "reviewers")
    subs = [r for r in done["runs"] if r["parent_run_id"] == reviewers["id"]]
    assert sorted(r["name"] for r in subs) == ["alpha", "beta"]
    assert len({r["id"] for r in subs}) == 2
    wait_until(lambda: all(r["status"] == "completed" for r in subs))
    assert "## alpha" in reviewers["output"] and "## beta" in reviewers["output"]
