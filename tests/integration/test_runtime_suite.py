"""TAKT v0.60's runtime features end to end: every scenario of tests/piece_suite/runtime.py
on real workers, the fake model answering the same script the pure walk answers.

Scenarios that need companions or the shell run on a worker of their own (the `idle`
tier, which no other worker consumes) with COMPANIONS_ENABLED, TOOLS_ALLOW_SHELL and
COMPANION_MAX_ROUNDS=2; the others run on the session's worker, whose settings are
the defaults (companions off, no shell). Concurrency is checked on the job's own
event log: the events of one job are written under its lock, so their order is the
order things happened in, whatever the machine's speed.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import IDLE_TIER, WorkerProcess
from tests.fakellm import error, text, tool_calls
from tests.integration.helpers import events, get_job, submit, wait_for_status
from tests.piece_suite.runtime import RUN_SCENARIOS, Ask, RunScenario, Say
from tests.piece_suite.scripted import ScriptedModel

pytestmark = pytest.mark.integration
LOCAL = ("workspace_baseline", "workspace_diff", "quality_gate")
FEATURE_ENV = {
    "COMPANIONS_ENABLED": "true",
    "COMPANION_MAX_ROUNDS": "2",
    "TOOLS_ALLOW_SHELL": "true",
    "SHELL_TIMEOUT": "20",
}


@pytest.fixture(scope="module")
def feature_worker(stack_env, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("feature-worker") / "worker.log"
    proc = WorkerProcess({**stack_env, **FEATURE_ENV}, log_path, queues=IDLE_TIER).start()
    yield proc
    proc.stop()


def script(llm, scenario: RunScenario) -> None:
    visits = ScriptedModel()

    def respond(rec):
        if not rec.kind:
            return None
        visit, _ = visits.visit(rec.movement or "", rec.run or "")
        ask = Ask(rec.movement or "", rec.kind, rec.name, visit, rec.last_user_message)
        say = scenario.script(ask)
        say = Say(say) if isinstance(say, str) else say
        if say is None:
            return None
        if say.fail:
            return error(400, {"error": {"message": say.fail}})
        if say.writes and (rec.messages[-1].get("role") != "tool"):
            return tool_calls(*[("Write", {"path": p, "content": c}) for p, c in say.writes])
        return text(say.text)

    llm.respond_with(respond)


def run(client, llm, scenario: RunScenario) -> dict:
    script(llm, scenario)
    tier = IDLE_TIER if scenario.companions or scenario.shell else None
    body = {"tier": tier} if tier else {}
    job = submit(
        client,
        piece=scenario.workflow,
        instruction=f"scenario {scenario.id}",
        max_attempts=1,
        **body,
    )
    return wait_for_status(client, job["id"], timeout=120)


def model_calls(llm, job_id: str | set[str]) -> list:
    """The first request of each call (a tool loop sends more than one)."""
    jobs = {job_id} if isinstance(job_id, str) else job_id
    return [
        r
        for r in llm.chat_requests
        if r.job in jobs and r.kind and r.messages and r.messages[-1].get("role") != "tool"
    ]


def called_jobs(client, job: dict) -> list[dict]:
    """The workflows a job called, nested ones before their caller, in creation order."""
    found = []
    for child in job["children"]:
        if child["task_kind"] == "call":
            view = get_job(client, child["id"])
            found += [*called_jobs(client, view), view]
    return found


def ending(job: dict) -> str:
    return "COMPLETE" if job["status"] == "succeeded" else f"ABORT: {job['abort_reason']}"


def check_concurrency(client, done: dict, limits: dict[str, int]) -> None:
    log = events(client, done["id"])
    for parent in [r for r in done["runs"] if r["name"] in limits]:
        mine = {r["id"] for r in done["runs"] if r["parent_run_id"] == parent["id"]}
        opened = running = peak_open = peak_running = 0
        for e in log:
            rid = e["data"].get("run_id")
            if rid not in mine:
                continue
            if e["kind"] == "member_queued":
                opened += 1
            elif e["kind"] == "movement_started":
                running += 1
            elif e["kind"] == "movement_completed":
                opened, running = opened - 1, running - 1
            peak_open, peak_running = max(peak_open, opened), max(peak_running, running)
        assert peak_open <= limits[parent["name"]], (parent["name"], peak_open)
        assert peak_running <= peak_open


@pytest.mark.parametrize("scenario", RUN_SCENARIOS, ids=[s.id for s in RUN_SCENARIOS])
def test_scenario(client, worker, feature_worker, llm, scenario: RunScenario):
    done = run(client, llm, scenario)
    top = [r for r in done["runs"] if r["parent_run_id"] is None]
    assert [r["name"] for r in top] == scenario.path
    if scenario.end == "COMPLETE":
        assert done["status"] == "succeeded", done["abort_reason"]
    else:
        assert done["status"] == "failed"
        assert f"ABORT: {done['abort_reason']}" == scenario.end
    assert [r["match_method"] for r in top] == scenario.methods
    called = called_jobs(client, done)
    assert [
        (c["piece_name"], [r["name"] for r in c["runs"] if r["parent_run_id"] is None], ending(c))
        for c in called
    ] == scenario.called
    if scenario.iterations is not None:
        assert [r["iteration"] for r in top] == scenario.iterations
    jobs = {done["id"], *(c["id"] for c in called)}
    calls = Counter(r.kind for r in model_calls(llm, jobs))
    assert dict(calls) == scenario.calls
    phases = Counter(p["kind"] for r in done["runs"] for p in r["phases"])
    assert {k: v for k, v in phases.items() if k in LOCAL} == scenario.local
    members = []
    for parent in top:
        ran = sorted(r["name"] for r in done["runs"] if r["parent_run_id"] == parent["id"])
        if ran:
            members.append((parent["name"], ran))
    # Members started in one transaction share their creation time: compare as sets.
    assert members == [(name, sorted(ran)) for name, ran in scenario.members]
    check_concurrency(client, done, scenario.limits)


def _scenario(name: str) -> RunScenario:
    return next(s for s in RUN_SCENARIOS if s.id == name)


def test_members_beyond_the_limit_start_only_as_others_end(client, worker, llm):
    done = run(client, llm, _scenario("parallel-select"))
    parent = next(r for r in done["runs"] if r["name"] == "review")
    mine = {r["id"]: r["name"] for r in done["runs"] if r["parent_run_id"] == parent["id"]}
    log = [e for e in events(client, done["id"]) if e["data"].get("run_id") in mine]
    order = [(e["kind"], mine[e["data"]["run_id"]]) for e in log if e["kind"] != "phase_completed"]
    # Two members are queued at once; tone (the third) only after one of them completed.
    queued = [i for i, (kind, _) in enumerate(order) if kind == "member_queued"]
    first_done = next(i for i, (kind, _) in enumerate(order) if kind == "movement_completed")
    assert [order[i][1] for i in queued] == ["style", "facts", "tone"]
    assert queued[1] < first_done < queued[2]
    started = next(e for e in events(client, done["id"]) if e["kind"] == "parallel_started")
    assert started["data"]["selected"] == ["facts", "tone"]
    assert started["data"]["concurrency"] == 2


def test_capabilities_decide_each_steps_tools(client, worker, llm):
    done = run(client, llm, _scenario("parallel-select"))
    calls = model_calls(llm, done["id"])

    def tools(movement: str, kind: str = "execute") -> list[str]:
        rec = next(r for r in calls if r.movement == movement and r.kind == kind)
        return sorted(t["function"]["name"] for t in rec.tools or [])

    # draft: suite-change, without Write (its report is written in Phase 2).
    assert tools("draft") == ["Bash", "Edit", "Glob", "Grep", "Read"]
    # The members inherit the workflow's suite-look; the selector has the read-only set.
    assert tools("style") == tools("facts") == ["Glob", "Grep", "Read"]
    assert tools("review", "parallel_select") == ["Glob", "Grep", "Read"]
    selector = next(r for r in calls if r.kind == "parallel_select")
    assert "You supervise an automated loop" in selector.messages[0]["content"]
    assert selector.schema["properties"]["selected_ids"]["items"]["enum"] == [
        "facts",
        "tone",
        "legal",
    ]
    assert "/reports/draft.md" in selector.last_user_message


def test_chosen_facets_reach_the_phase1_prompt(client, worker, llm):
    done = run(client, llm, _scenario("facets-select"))
    calls = model_calls(llm, done["id"])
    write = next(r for r in calls if r.movement == "write" and r.kind == "execute")
    proof = next(r for r in calls if r.movement == "proof" and r.kind == "execute")
    count = next(r for r in calls if r.movement == "count" and r.kind == "execute")
    assert "## Knowledge" in write.last_user_message and "## Policy" not in write.last_user_message
    assert "## House style" in proof.last_user_message
    assert "## House style" not in count.last_user_message
    # The selector's answer is a recorded phase of the run (phase 0, before Phase 1).
    run_phases = next(r for r in done["runs"] if r["name"] == "write")["phases"]
    assert [(p["phase"], p["kind"]) for p in run_phases] == [(0, "facet_select"), (1, "execute")]


def test_completion_retries_continue_the_conversation(client, worker, llm):
    done = run(client, llm, _scenario("completion-max-retry"))
    calls = model_calls(llm, done["id"])
    execute = next(r for r in calls if r.kind == "execute")
    retries = [r for r in calls if r.kind == "completion_retry"]
    assert len(retries) == 2
    # Each re-run continues the step's conversation: the first prompt, its answer, ...
    assert retries[0].messages[-3]["content"] == execute.last_user_message
    assert "docs/guide.md" in retries[1].last_user_message
    judges = [r for r in calls if r.kind == "completion_judge"]
    assert all(len(j.messages) == 2 for j in judges)  # fresh: system + prompt
    required = ["complete", "reason", "missing_obligations"]
    assert all(j.schema["required"] == required for j in judges)
    report = next(r for r in calls if r.kind == "report")
    assert "- kind: max_retry_reached" in report.last_user_message
    assert done["result"] == "Answer from fix (visit 1)."


def test_companion_reviewers_see_the_change_and_the_writer_answers(
    client, worker, feature_worker, llm
):
    done = run(client, llm, _scenario("companion-rounds"))
    calls = model_calls(llm, done["id"])
    reviews = [r for r in calls if r.kind == "companion_review"]
    assert sorted(r.name for r in reviews) == [
        "0.1:suite-proofreader",
        "0.1:suite-watcher",
        "0.2:suite-proofreader",
        "0.2:suite-watcher",
    ]
    first = next(r for r in reviews if r.name == "0.1:suite-watcher")
    assert "+v1" in first.last_user_message
    second = next(r for r in reviews if r.name == "0.2:suite-watcher")
    assert "+- v2" in second.last_user_message
    follow_up = next(r for r in calls if r.kind == "companion_follow_up")
    assert "use a list" in follow_up.last_user_message
    assert "too long" not in follow_up.last_user_message
    assert len(follow_up.messages) > 2  # in the writer's conversation
    assert done["result"] == "Turned the line into a list."


def test_a_failed_gate_runs_the_step_again_with_its_report(client, feature_worker, llm):
    done = run(client, llm, _scenario("gates-rerun"))
    calls = model_calls(llm, done["id"])
    second = [r for r in calls if r.movement == "build" and r.kind == "execute"][1]
    assert "## Previous Response" in second.last_user_message
    assert "Quality gate failed: done file exists" in second.last_user_message
    assert "Exit code: 1" in second.last_user_message
    lint = [r for r in calls if r.movement == "lint" and r.kind == "execute"]
    assert len(lint) == 2
    builds = [r for r in done["runs"] if r["name"] == "build"]
    gates = [[p["status"] for p in r["phases"] if p["kind"] == "quality_gate"] for r in builds]
    assert gates == [["error"], ["done"]]
    assert builds[0]["route"] == "quality_gate" and builds[0]["next"] == "build"


def test_a_failed_follow_up_leaves_the_answer_as_it_was(client, feature_worker, llm):
    done = run(client, llm, _scenario("companion-follow-up-fails"))
    write = next(r for r in done["runs"] if r["name"] == "write")
    follow_up = next(p for p in write["phases"] if p["kind"] == "companion_follow_up")
    assert follow_up["status"] == "error"  # a refused call is an answer here, not the end
    assert done["result"] == "Draft."
