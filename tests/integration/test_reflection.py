"""Reflection end to end: a finished job gets one reflection job, whose output becomes
notes that later jobs of the same owner receive in their prompts."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until
from tests.fakellm import text
from tests.faults.harness import *  # noqa: F403 - the stack fixtures

pytestmark = pytest.mark.integration

NOTES_REPLY = "- Keep drafts under ten lines.\n- The owner wants British spelling.\nNotes written"


def _reflections(stack, job_id: str) -> list[tuple]:
    return stack.sql(
        "SELECT id::text, status, owner_id, visibility, tier, piece_name FROM jobs "
        "WHERE task_kind = 'reflection' AND parent_job_id = %s",
        job_id,
    )


def test_finished_job_is_reflected_once_and_notes_reach_later_prompts(
    make_stack, scratch_db, private_redis, llm
):
    stack = make_stack(scratch_db, private_redis.url, REFLECTION_ENABLED="true")
    stack.api()
    stack.worker()
    stack.beat()
    llm.when(lambda r: r.movement == "reflect", text(NOTES_REPLY))

    first = stack.submit(piece="demo", instruction="first job")["id"]
    stack.wait_all([first])
    wait_until(
        lambda: [r for r in _reflections(stack, first) if r[1] == "succeeded"],
        timeout=60,
        message="the reflection to finish",
    )
    [(reflection_id, _, owner, visibility, tier, piece)] = _reflections(stack, first)
    assert (owner, visibility, tier, piece) == ("local", "private", "reflection", "reflection")
    # the reflection's task was the job's history
    reflect_prompt = next(r.prompt for r in llm.requests if r.movement == "reflect")
    assert f"Job {first} (piece demo) ended succeeded" in reflect_prompt

    notes = stack.sql("SELECT content, piece_name FROM notes WHERE source_job_id = %s", first)
    assert sorted(notes) == [
        ("Keep drafts under ten lines.", "demo"),
        ("The owner wants British spelling.", "demo"),
    ]
    import requests

    listed = requests.get(stack.api_url + "/api/notes", timeout=10).json()["items"]
    assert {n["content"] for n in listed} >= {"Keep drafts under ten lines."}

    # A later job of the same owner gets the notes in its prompts.
    second = stack.submit(piece="demo", instruction="second job")["id"]
    stack.wait_all([second])
    prompts = [r.prompt for r in llm.requests if r.job == second]
    assert prompts and all("Notes from earlier jobs" in p for p in prompts)
    assert "Keep drafts under ten lines." in prompts[0]
    # never a reflection of a reflection
    assert _reflections(stack, reflection_id) == []


def test_no_reflection_without_a_reflection_worker(make_stack, scratch_db, private_redis, llm):
    stack = make_stack(scratch_db, private_redis.url, REFLECTION_ENABLED="true")
    stack.api()
    stack.worker(queues="fast,auto,quality,maintenance")  # nobody serves `reflection`

    job = stack.submit(piece="demo")["id"]
    stack.wait_all([job])

    def skipped():
        return [e for e in stack.events(job) if e["kind"] == "reflection_skipped"]

    [event] = wait_until(skipped, timeout=60, message="the reflection to be skipped")
    assert event["data"]["reason"] == "no-worker"
    assert _reflections(stack, job) == []


def test_daily_token_budget_stops_reflections(make_stack, scratch_db, private_redis, llm):
    stack = make_stack(
        scratch_db, private_redis.url, REFLECTION_ENABLED="true", REFLECTION_DAILY_TOKEN_BUDGET=1
    )
    stack.api()
    stack.worker()

    first = stack.submit(piece="demo", instruction="one")["id"]
    stack.wait_all([first])
    wait_until(
        lambda: [r for r in _reflections(stack, first) if r[1] == "succeeded"],
        timeout=60,
        message="the first reflection (the budget is not spent yet)",
    )
    second = stack.submit(piece="demo", instruction="two")["id"]
    stack.wait_all([second])

    def skipped():
        return [e for e in stack.events(second) if e["kind"] == "reflection_skipped"]

    [event] = wait_until(skipped, timeout=60, message="the second reflection to be skipped")
    assert event["data"]["reason"] == "over-budget"
    assert _reflections(stack, second) == []
