"""Every one of TAKT v0.60's builtin workflows, walked with a scripted model to an end.

The pure walk (tests/unit/pieces/simulator.py) runs the engine's own functions: each
step's program, the routing, called workflows from the shared counter, and system steps
over the facts and effect results the walk is given. With judges choosing their first
rule and selectors their first candidate, every workflow ends where TAKT could end it.

auto-improvement-loop (``max_steps: infinite``) is TAKT's only workflow with system
steps, ``structured_output`` and ``delay_before_ms``. Without a forge there is no pull
request or issue to pick, so it plans a fresh improvement, enqueues it, waits while the
queue is busy, scans again, and ends when the planner answers outside its schema (TAKT
fails the step: ``requires structured_output``); the same path runs on real workers in
tests/integration/test_workflow_system.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pieces import Call, PieceLibrary
from pieces.system_run import Facts
from tests.unit.pieces.simulator import IDLE, Walk, simulate
from tests.unit.pieces.workflow.test_takt_builtin_calls import ENDS, _respond

LOOP = "auto-improvement-loop"
PLAN = {
    "action": "enqueue_new_task",
    "title": "Fix the flaky retry",
    "type": "bug",
    "scope": "engine",
    "summary": "Retries sometimes run twice.",
    "goals": ["Run each retry once"],
    "acceptance_criteria": ["A retry runs once", "A test proves it"],
    "labels": [],
    "issue": {"create": True},
}
BUSY = dict(IDLE, exists=True, total_count=1, pending_count=1)
PLAN_FAILED = (
    'ABORT: Step execution failed: Step "plan_fresh_improvement" requires structured_output: '
    "structured output does not match its schema at action: 'stop' is not one of "
    "['enqueue_new_task', 'wait_before_next_scan']"
)


@pytest.fixture(scope="module")
def head(takt_head: Path) -> PieceLibrary:
    return PieceLibrary([takt_head, takt_head.parent])


def loop_respond(movement: str, run_id: str, call: Call) -> str | None:
    """The planner plans one task, then answers outside its schema."""
    if call.kind == "execute" and call.schema is not None:
        first = run_id == loop_respond.first.setdefault("run", run_id)
        return json.dumps(PLAN if first else {**PLAN, "action": "stop"})
    return _respond(movement, run_id, call)


loop_respond.first = {}


def loop_facts(walk: Walk) -> Facts:
    """The enqueued task is pending at the first wait, done by the second."""
    waits = walk.path.count("wait_before_next_scan")
    queue = BUSY if walk.effects and waits == 0 else IDLE
    return Facts(task="scripted", queue={False: queue, True: queue})


def test_every_builtin_runs_to_an_end(takt_head: Path, head: PieceLibrary) -> None:
    files = sorted((takt_head / "workflows").glob("*.yaml"))
    assert len(files) == 71
    ends: dict[str, str] = {}
    for file in files:
        piece = head.load(file.stem)
        if file.stem == LOOP:
            loop_respond.first.clear()
            walk = simulate(piece, {}, limit=50, respond=loop_respond, facts=loop_facts)
            assert walk.end == PLAN_FAILED
            ends[file.stem] = walk.end
            continue
        walk = simulate(piece, {}, limit=500, respond=_respond)
        assert walk.end in ENDS, (file.stem, walk.end)
        if walk.end == "ABORT: Max steps reached":
            assert walk.used == piece.max_movements, file.stem
        ends[file.stem] = walk.end
    assert len(ends) == 71
    assert sum(end == "COMPLETE" for end in ends.values()) >= 1


def test_auto_improvement_loop_plans_enqueues_waits_and_scans_again(head: PieceLibrary) -> None:
    loop_respond.first.clear()
    walk = simulate(head.load(LOOP), {}, limit=50, respond=loop_respond, facts=loop_facts)
    assert walk.path == [
        "route_context",
        "plan_fresh_improvement",
        "enqueue_fresh",
        "wait_before_next_scan",
        "wait_before_next_scan",
        "route_context",
        "plan_fresh_improvement",
    ]
    assert walk.methods[:5] == ["auto_select"] * 5  # every route is a when()
    (effect,) = walk.effects
    step, kind, args = effect
    assert (step, kind, args["workflow"], args["mode"]) == (
        "enqueue_fresh",
        "enqueue_task",
        "takt-default",
        "new",
    )
    # The task is the planner's followup-task rendered as TAKT renders it.
    assert args["task"] == (
        "## Summary\nRetries sometimes run twice.\n\n## Goals\n- Run each retry once\n\n"
        "## Acceptance Criteria\n- [ ] A retry runs once\n- [ ] A test proves it"
    )
    assert args["issue"] == {"create": True, "title": "Fix the flaky retry", "labels": []}
    assert walk.end == PLAN_FAILED
