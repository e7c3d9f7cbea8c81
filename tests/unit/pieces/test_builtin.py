"""Built-in pieces: valid, happy path on rule 0, and snapshots that round-trip exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from pieces import BUILTIN_DIR, Piece, PieceLibrary

from .simulator import simulate

BUILTINS = ["default", "demo", "general", "reflection", "research", "review"]
SUITE = Path(__file__).resolve().parents[2] / "piece_suite"
HAPPY_PATHS = {
    "demo": ["draft", "review"],
    "general": ["work"],
    "default": ["plan", "implement", "review"],
    "review": ["scope", "reviewers", "verdict"],
    "research": ["frame", "research", "synthesize"],
    "reflection": ["reflect"],
}


def test_builtin_names(builtin: PieceLibrary) -> None:
    assert sorted(builtin.names()) == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_validates_without_any_problem(builtin: PieceLibrary, name: str) -> None:
    report = builtin.validate_file(builtin.find(name))
    assert report.problems == []
    assert builtin.load(name).warnings == []


@pytest.mark.parametrize("name", BUILTINS)
def test_first_rule_everywhere_completes(builtin: PieceLibrary, name: str) -> None:
    # What the offline demo provider answers: every judgment picks rule 1.
    walk = simulate(builtin.load(name), {})
    assert walk.path == HAPPY_PATHS[name]
    assert walk.end == "COMPLETE"


def test_default_review_fix_loop_is_watched(builtin: PieceLibrary) -> None:
    piece = builtin.load("default")
    monitor = piece.loop_monitors[0]
    judge = "_loop_judge_" + "_".join(monitor.cycle)
    rounds = ["plan", "implement", "review", "fix", "review", "fix", "review", "fix"]
    stuck = simulate(piece, {"review": ["s2", "s2", "s2"], judge: ["s2"]})
    assert stuck.path == [*rounds, judge]
    assert stuck.end == "ABORT: Piece aborted by movement transition"
    going = simulate(piece, {"review": ["s2", "s2", "s2", "s1"]})
    assert going.path == [*rounds, judge, "review"]
    assert going.end == "COMPLETE"


def test_review_joins_reviewers(builtin: PieceLibrary) -> None:
    piece = builtin.load("review")
    assert simulate(piece, {}).path[-1] == "verdict"
    changes = simulate(piece, {"design-review": ["s2"]})
    assert changes.path == ["scope", "reviewers", "verdict"]
    assert changes.methods[1] == "aggregate"
    refused = simulate(piece, {"design-review": ["s3"]})
    assert refused.path == ["scope", "reviewers"]
    assert refused.end == "ABORT: Piece aborted by movement transition"


def test_reflection_writes_notes(builtin: PieceLibrary) -> None:
    assert simulate(builtin.load("reflection"), {}).reports == {"notes.md"}


def _all_pieces() -> list[Piece]:
    libs = [PieceLibrary([BUILTIN_DIR]), PieceLibrary([SUITE])]
    return [lib.load(name) for lib in libs for name in lib.names()]


@pytest.mark.parametrize("piece", _all_pieces(), ids=lambda p: p.name)
def test_snapshot_round_trips_exactly(piece: Piece) -> None:
    snapshot = json.loads(json.dumps(piece.model_dump(mode="json")))
    rebuilt = Piece.model_validate(snapshot)
    assert rebuilt == piece
    assert rebuilt.model_dump(mode="json") == snapshot


def test_snapshot_needs_no_files(tmp_path: Path, make_lib) -> None:
    root = make_lib(
        {
            "pieces/p.yaml": "name: p\nmovements:\n  - name: a\n    persona: helper\n",
            "facets/personas/helper.md": "HELPER TEXT",
        }
    )
    snapshot = PieceLibrary([root]).load("p").model_dump(mode="json")
    (root / "facets" / "personas" / "helper.md").unlink()
    assert Piece.model_validate(snapshot).movements[0].persona == "HELPER TEXT"


def test_pieces_are_immutable(builtin: PieceLibrary) -> None:
    piece = builtin.load("demo")
    with pytest.raises(ValidationError):
        piece.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        piece.movements[0].rules[0].next = "ABORT"  # type: ignore[misc]


def test_lookup(builtin: PieceLibrary) -> None:
    piece = builtin.load("review")
    assert piece.movement("verdict").name == "verdict"
    assert piece.movement("security-review").persona.startswith("You are a security reviewer")
    assert piece.parent_of("security-review").name == "reviewers"
    assert piece.parent_of("verdict") is None
    with pytest.raises(KeyError):
        piece.movement("nope")
    assert piece.initial_movement == "scope" and piece.max_movements == 8
