"""The v0.60 runtime scenarios (tests/piece_suite/runtime.py) in the pure walk.

The same scripts run end to end in tests/integration/test_runtime_suite.py; here the
walk answers the worker's local calls (gates, workspace looks) from the script too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pieces import Answer, Call, PieceLibrary
from tests.piece_suite.runtime import RUN_SCENARIOS, Ask, RunScenario, Say
from tests.piece_suite.scripted import ScriptedModel

from .simulator import Walk, simulate

SUITE = Path(__file__).resolve().parents[2] / "piece_suite"
LOCAL = ("workspace_baseline", "workspace_diff", "quality_gate")


@pytest.fixture(scope="module")
def suite() -> PieceLibrary:
    return PieceLibrary([SUITE])


def _local(call: Call, movement: str, say: Say | None) -> Answer:
    kind, name, local = call.kind, call.name, call.local or {}
    if local["type"] == "git_baseline":
        return Answer(kind=kind, name=name, content="baseline")
    if local["type"] == "git_diff":
        digest = say.digest if say else None
        data = {"available": True, "paths": ["draft.md"] if digest else [], "digest": digest or ""}
        text = f"diff {digest}" if digest else ""
        return Answer(kind=kind, name=name, content=text, structured=data)
    if say is not None and say.refused:
        reason = (
            f'Step "{movement}" cannot run its quality gate "{local["name"]}": shell '
            "execution is disabled on this deployment (TOOLS_ALLOW_SHELL)"
        )
        return Answer(kind, reason, name, "error", {"refused": True}, reason)
    if say is None or say.passed:
        return Answer(kind=kind, name=name, content=f"Quality gate passed: {local['name']}")
    return Answer(kind, f"Quality gate failed: {local['name']}", name, "error", {})


def walk(piece, scenario: RunScenario) -> Walk:
    visits = ScriptedModel()

    def respond(movement: str, run_id: str, call: Call):
        visit, _ = visits.visit(movement, run_id)
        say = scenario.script(Ask(movement, call.kind, call.name, visit, call.prompt))
        say = Say(say) if isinstance(say, str) else say
        if call.local is not None:
            return _local(call, movement, say)
        if say is not None and say.fail:
            return Answer(kind=call.kind, name=call.name, status="error", error=say.fail)
        return say.text if say is not None else None

    return simulate(
        piece,
        {},
        respond=respond,
        companions=scenario.companions,
        companion_rounds=2,
    )


@pytest.mark.parametrize("scenario", RUN_SCENARIOS, ids=[s.id for s in RUN_SCENARIOS])
def test_scenario(suite: PieceLibrary, scenario: RunScenario) -> None:
    result = walk(suite.load(scenario.workflow), scenario)
    assert result.path == scenario.path
    assert result.end == scenario.end
    assert result.methods == scenario.methods
    calls = Counter({k: v for k, v in result.calls.items() if k not in LOCAL})
    assert dict(calls) == scenario.calls
    assert {k: v for k, v in result.calls.items() if k in LOCAL} == scenario.local
    assert result.members == scenario.members
    assert result.called == scenario.called
    if scenario.iterations is not None:
        assert result.iterations == scenario.iterations


def _prompts(suite, scenario_id: str, kind: str, movement: str | None = None) -> list[str]:
    scenario = next(s for s in RUN_SCENARIOS if s.id == scenario_id)
    seen: list[str] = []
    original = scenario.script

    def spy(ask: Ask):
        if ask.kind == kind and (movement is None or ask.movement == movement):
            seen.append(ask.prompt)
        return original(ask)

    walk(suite.load(scenario.workflow), RunScenario(**{**scenario.__dict__, "script": spy}))
    return seen


def test_the_selector_sees_entry_type_reports_and_candidates(suite) -> None:
    first, second = _prompts(suite, "parallel-replace", "parallel_select")
    assert "Entry type:\ninitial entry" in first
    assert "Entry type:\nre-entry after a prior round" in second
    # selection.reports names notes.md, which no step wrote: only draft.md is offered.
    assert "Reports to inspect (read them with your tools):\n- reports/draft.md" in first
    assert "notes.md" not in first
    assert "Selector guidance:\nChoose the pool reviewers this draft needs." in first
    assert "- legal: Checks legal wording; pick it for contracts and terms." in first


def test_chosen_facets_join_the_phase1_prompt(suite) -> None:
    write = _prompts(suite, "facets-reentry", "execute", "write")
    domain = (SUITE / "facets/knowledge/suite-domain.md").read_text().strip()
    style = (SUITE / "facets/policies/house-style.md").read_text().strip()
    assert domain in write[0] and "## Knowledge" in write[0] and style not in write[0]
    assert style in write[1] and "## Policy" in write[1] and domain not in write[1]
    again = _prompts(suite, "facets-reentry", "facet_select", "write")[1]
    assert "Entry type:\nre-entry" in again and "selected_ids:\n- domain" in again


def test_a_completion_retry_adds_the_instruction_and_the_gaps(suite) -> None:
    execute = _prompts(suite, "completion-max-retry", "execute")[0]
    first, second = _prompts(suite, "completion-max-retry", "completion_retry")
    gap = "- [changed_target_gap] docs: docs/guide.md — unchecked"
    # TAKT's layout: the whole Phase 1 prompt, a blank line, the instruction, the gaps.
    assert first == f"{execute}\n\nFinish what the completion check found missing.\n\n{gap}"
    assert second == first
    forced = _prompts(suite, "completion-min-retry", "completion_retry")
    assert forced == [f"{execute}\n\nFinish what the completion check found missing."]


def test_phase2_sees_the_diagnostic_only_when_the_episode_fell_short(suite) -> None:
    (short,) = _prompts(suite, "completion-max-retry", "report")
    assert "## Completion Retry Diagnostic" in short
    assert "- kind: max_retry_reached\n- attempts: 3\n- retries_used: 2" in short
    (unavailable,) = _prompts(suite, "completion-judge-fails", "report")
    assert "- kind: judge_unavailable\n- attempts: 1\n- retries_used: 0" in unavailable
    (fine,) = _prompts(suite, "completion-min-retry", "report")
    assert "Completion Retry Diagnostic" not in fine


def test_companion_findings_come_back_moderated(suite) -> None:
    (execute,) = _prompts(suite, "companion-rounds", "execute")
    assert "## Companion reviewers" in execute
    (follow_up,) = _prompts(suite, "companion-rounds", "companion_follow_up")
    assert '"finding": "use a list"' in follow_up and "too long" not in follow_up
    (off,) = _prompts(suite, "companions-off", "execute")
    assert "Companion reviewers" not in off
