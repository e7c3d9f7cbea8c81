"""TAKT's own builtin libraries, read as they are, validate with no errors.

v0.60 (71 workflows, their step fragments, facet pools, capability sets, companions,
rule prose and schemas) and 0.31 (33 pieces). The folders come from
TAKT_BUILTINS_HEAD / TAKT_BUILTINS_031 (default: the checkouts under /work), else from
the git mirror; nothing of TAKT is copied into this repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pieces import Piece, PieceLibrary

# The only warning TAKT's builtins draw: this workflow loops forever on purpose.
EXPECTED_WARNINGS = {
    "auto-improvement-loop": ['steps: no route from "route_context" reaches COMPLETE'],
}


@pytest.fixture(scope="module")
def head(takt_head: Path) -> PieceLibrary:
    # TAKT keeps its JSON schemas beside the language folders: builtins/schemas.
    return PieceLibrary([takt_head, takt_head.parent])


def _workflow_files(root: Path) -> list[Path]:
    return sorted((root / "workflows").glob("*.yaml"))


def test_head_has_the_library_the_census_counts(takt_head: Path) -> None:
    assert len(_workflow_files(takt_head)) == 71
    assert len(list((takt_head / "steps").glob("*.yaml"))) == 31


def test_every_head_workflow_validates(takt_head: Path, head: PieceLibrary) -> None:
    failures = {}
    warnings = {}
    for file in _workflow_files(takt_head):
        report = head.validate_file(file)
        if report.errors:
            failures[file.stem] = [str(p) for p in report.errors[:5]]
        if report.warnings:
            warnings[file.stem] = [str(p) for p in report.warnings]
    assert failures == {}
    assert warnings == EXPECTED_WARNINGS


def _uses(value, found: set[str]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("uses"), str):
            found.add(value["uses"])
        for item in value.values():
            _uses(item, found)
    elif isinstance(value, list):
        for item in value:
            _uses(item, found)


def test_fragments_are_expanded_through_the_workflows_that_use_them(takt_head: Path) -> None:
    used: set[str] = set()
    for file in [*_workflow_files(takt_head), *(takt_head / "steps").glob("*.yaml")]:
        _uses(yaml.safe_load(file.read_text(encoding="utf-8")).get("steps", []), used)
        if file.parent.name == "steps":
            _uses(yaml.safe_load(file.read_text(encoding="utf-8")), used)
    fragments = {p.stem for p in (takt_head / "steps").glob("*.yaml")}
    # Every fragment a workflow names exists, and nearly all of them are in use; the
    # validation above expanded each of those.
    assert used - fragments == set()
    assert len(used) >= 25


def test_the_deepest_call_chains_reach_the_limit(head: PieceLibrary) -> None:
    def depth(piece: Piece) -> int:
        return 1 + max((depth(c) for c in piece.callees.values()), default=0)

    for name in ("backend-cqrs", "dual", "dual-cqrs", "frontend", "frontend-maintenance"):
        assert depth(head.load(name)) == 5, name


def test_a_loaded_workflow_survives_a_json_round_trip(head: PieceLibrary) -> None:
    piece = head.load("default")
    again = Piece.model_validate(piece.model_dump(mode="json"))
    assert again == piece
    assert again.dialect == "workflow"
    assert "development-core" in next(iter(again.callees))


def test_every_031_piece_still_validates(takt_031: Path) -> None:
    library = PieceLibrary([takt_031])
    files = sorted((takt_031 / "pieces").glob("*.yaml"))
    assert len(files) == 33
    failures = {
        f.stem: [str(p) for p in r.errors] for f in files if (r := library.validate_file(f)).errors
    }
    assert failures == {}
    assert all(library.load(f.stem).dialect == "piece" for f in files[:3])
