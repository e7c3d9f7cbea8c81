"""tests/piece_suite: every piece validates, and every scenario holds in the pure walk."""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import PieceLibrary
from tests.piece_suite.scenarios import SCENARIOS

from .simulator import simulate

SUITE = Path(__file__).resolve().parents[2] / "piece_suite"


@pytest.fixture(scope="module")
def suite() -> PieceLibrary:
    return PieceLibrary([SUITE])


def test_every_piece_has_a_scenario(suite: PieceLibrary) -> None:
    assert {s.piece for s in SCENARIOS} >= set(suite.names()) - {"team"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(suite: PieceLibrary, scenario) -> None:
    walk = simulate(suite.load(scenario.piece), scenario.script, interactive=scenario.interactive)
    assert walk.path == scenario.path
    assert walk.end == scenario.end
    assert walk.methods == scenario.methods
    assert dict(walk.calls) == scenario.calls
    assert walk.waits == scenario.inputs
    assert sorted(walk.reports) == sorted(scenario.reports)
    if scenario.sub_methods:
        assert walk.sub_methods == scenario.sub_methods


def test_every_suite_piece_validates_without_errors(suite: PieceLibrary) -> None:
    for name in suite.names():
        report = suite.validate_file(suite.find(name))
        assert report.errors == [], (name, [str(p) for p in report.errors])


def test_only_the_compat_piece_has_warnings(suite: PieceLibrary) -> None:
    warned = {
        name: [str(p) for p in suite.validate_file(suite.find(name)).warnings]
        for name in suite.names()
    }
    assert {name for name, w in warned.items() if w} == {"takt-compat"}
    assert warned["takt-compat"] == [
        "movements[0].instruction_template: deprecated alias of instruction "
        "(TAKT reads it as instruction; rename the key)",
        "movements[0].provider_options.claude.max_turns: provider option ignored by legato",
        "movements[1].instruction_template: deprecated alias of instruction "
        "(TAKT reads it as instruction; rename the key)",
        "piece_config.provider_options.claude.sandbox: ignored by legato "
        "(provider-specific option)",
        "movements[1].rules: no rules: the job aborts after this movement (no rule can match) "
        "(add a rule such as {condition: Done, next: COMPLETE})",
        'movements: no route from "plan" reaches COMPLETE',
    ]
