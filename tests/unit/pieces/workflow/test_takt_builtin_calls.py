"""TAKT's builtin workflows that call others, walked with a scripted model.

The pure walk (tests/unit/pieces/simulator.py) runs each called workflow the way the
worker's child job runs it: from the caller's step counter, under the root's
`max_steps`, its end routed by the calling step's rules. With every judge choosing its
first rule (selectors their first candidate), each workflow of TAKT's library that has
a workflow_call step reaches an end TAKT itself could reach; those that loop spend
exactly their root's budget across the whole call tree. backend-mini, run end to end in
tests/integration/test_workflow_calls.py, completes when its supervisor approves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import Call, Piece, PieceLibrary
from tests.piece_suite.runtime import decision, select
from tests.unit.pieces.simulator import simulate

ENDS = {
    "COMPLETE",
    "ABORT: Workflow aborted by step transition",
    "ABORT: Max steps reached",
    "ABORT: rule_no_match",
}


@pytest.fixture(scope="module")
def head(takt_head: Path) -> PieceLibrary:
    return PieceLibrary([takt_head, takt_head.parent])


def _respond(movement: str, run_id: str, call: Call) -> str | None:
    if call.kind == "parallel_select":
        return select(call.schema["properties"]["selected_ids"]["items"]["enum"][0])
    if call.kind == "facet_select":
        return select()
    if call.kind == "completion_judge":
        return decision(True)
    return None


def _calls(piece: Piece) -> bool:
    return any(m.kind == "workflow_call" for m in piece.all_movements())


def test_every_builtin_that_calls_runs_to_an_end(takt_head: Path, head: PieceLibrary) -> None:
    ran: dict[str, tuple[str, int]] = {}
    for file in sorted((takt_head / "workflows").glob("*.yaml")):
        piece = head.load(file.stem)
        if not _calls(piece):
            continue
        walk = simulate(piece, {}, limit=500, respond=_respond)
        assert walk.end in ENDS, (file.stem, walk.end)
        if walk.end == "ABORT: Max steps reached":
            # The budget is the root's, shared by every workflow on the call tree.
            assert walk.used == piece.max_movements, file.stem
        for workflow, path, end in walk.called:
            assert end in ENDS, (file.stem, workflow, end)
            # Only a workflow called with the budget already spent runs no step.
            assert path or end == "ABORT: Max steps reached", (file.stem, workflow)
        ran[file.stem] = (walk.end, len(walk.called))
    assert len(ran) >= 36
    entered = [name for name, (_, called) in ran.items() if called]
    assert len(entered) >= 30
    # The deepest trees call across five levels (the root counts): all of them ran.
    deep = simulate(head.load("dual-cqrs"), {}, limit=500, respond=_respond)
    names = {workflow for workflow, _, _ in deep.called}
    assert {"development-core", "peer-review", "peer-review-suite-base"} <= names


def test_backend_mini_completes_when_its_supervisor_approves(head: PieceLibrary) -> None:
    walk = simulate(head.load("backend-mini"), {"supervise": ["s2"]}, respond=_respond)
    assert walk.end == "COMPLETE"
    assert walk.path == ["develop"]
    assert walk.called == [("mini-core", ["plan", "implement", "reviewers"], "COMPLETE")]
    assert walk.iterations == [1] and walk.used == 3
