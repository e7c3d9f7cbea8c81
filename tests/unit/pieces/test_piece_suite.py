"""tests/piece_suite: every piece validates, and every README row holds in the reference walk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pieces import PieceLibrary

from .simulator import Script, simulate

SUITE = Path(__file__).resolve().parents[2] / "piece_suite"
README = SUITE / "README.md"


def _rows() -> list[tuple[str, str, str, list[str], str, str]]:
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            number, piece, answers, path, notes, end = cells
            rows.append((number, piece.strip("`"), answers, path.split(" → "), notes, end))
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def suite() -> PieceLibrary:
    return PieceLibrary([SUITE])


def test_readme_has_a_row_for_every_piece(suite: PieceLibrary) -> None:
    assert len(ROWS) >= 30
    assert {row[1] for row in ROWS} == set(suite.names())


@pytest.mark.parametrize("row", ROWS, ids=[f"{r[0]}-{r[1]}" for r in ROWS])
def test_expected_path(suite: PieceLibrary, row) -> None:
    _, piece_name, answers, path, notes, end = row
    outcome = simulate(suite.load(piece_name), Script.parse(answers))
    assert outcome.path == path
    assert (", ".join(outcome.notes) or "—") == notes
    assert outcome.end == end


def test_every_suite_piece_validates_cleanly(suite: PieceLibrary) -> None:
    for name in suite.names():
        report = suite.validate_file(suite.find(name))
        assert report.errors == [], name
        if name != "takt-compat":
            assert report.warnings == [], name


def test_takt_compat_warnings_are_exactly_the_documented_ones(suite: PieceLibrary) -> None:
    report = suite.validate_file(suite.find("takt-compat"))
    assert [str(w) for w in report.warnings] == [
        "movements[0].provider_options.claude.max_turns: provider option ignored by legato",
        "piece_config.provider_options.claude.sandbox: ignored by legato "
        "(provider-specific option)",
        "movements[1].rules: no rules: the piece completes after this movement",
    ]
    for line in report.lines():
        assert line.removeprefix("warning: ") in README.read_text(encoding="utf-8")


def test_takt_compat_spellings_are_honoured(suite: PieceLibrary) -> None:
    piece = suite.load("takt-compat")
    plan, build = piece.movements
    assert piece.max_movements == 5
    assert plan.required_permission_mode == "readonly"
    assert plan.allowed_tools == ["Read", "Grep"]
    assert [(c.label, c.name) for c in plan.output_contracts] == [("Plan", "plan.md")]
    assert plan.session == "refresh" and plan.persona_name == "Planner"
    assert plan.quality_gates == ["Every step names the file it changes"]
    assert [(r.condition, r.next) for r in build.rules] == [("Done", "COMPLETE")]


def test_tiers(suite: PieceLibrary) -> None:
    outcome = simulate(suite.load("tiers"), Script())
    assert outcome.tiers == {
        "scout": "fast",
        "quick": "fast",
        "deep": "quality",
        "conclude": "quality",
        "wrap": None,
    }
    used = {m.tier for name in suite.names() for m in suite.load(name).all_movements()}
    assert used == {"fast", "quality", None}


def test_reports_and_placeholders(suite: PieceLibrary) -> None:
    outcome = simulate(suite.load("reports"), Script())
    assert set(outcome.reports) == {"outline.md", "verdict.md"}
    assert "[STEP:" not in outcome.reports["outline.md"]
    first_outline = outcome.prompts[0][1]
    assert "(report draft.md has not been written yet in this job)" in first_outline
    write_prompt = dict(outcome.prompts)["write"]
    assert outcome.reports["outline.md"] in write_prompt


def test_user_inputs_reach_later_movements(suite: PieceLibrary) -> None:
    outcome = simulate(suite.load("user-inputs"), Script())
    assert "User inputs so far:\n- user input 1" in dict(outcome.prompts)["answer"]
    outcome = simulate(suite.load("user-inputs"), Script.parse("ask: 1"))
    assert "User inputs so far:\n(none)" in dict(outcome.prompts)["answer"]


def test_variables_in_linear(suite: PieceLibrary) -> None:
    outcome = simulate(suite.load("linear"), Script.parse("summarise: 1 0"))
    gathers = [p for name, p in outcome.prompts if name == "gather"]
    assert "Iteration 1 of at most 8" in gathers[0]
    assert "run 1 of gather" in gathers[0]
    assert "Reports directory: reports" in gathers[0]
    assert "Earlier answer: (no previous response)" in gathers[0]
    assert "Iteration 3 of at most 8" in gathers[1] and "run 2 of gather" in gathers[1]
    assert not re.search(r"\{(task|iteration|movement_iteration)\}", "".join(gathers))


def test_loop_judge_sees_cycle_count_and_report(suite: PieceLibrary) -> None:
    outcome = simulate(suite.load("loop"), Script.parse("check: 1 1 0"))
    judge = dict(outcome.prompts)["loop_monitors[0].judge"]
    assert "check and redo have alternated 2 times" in judge
    assert "Answer from check (visit 2)." in judge
