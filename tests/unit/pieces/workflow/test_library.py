# ruff: noqa: E501
"""Libraries holding pieces and workflows: lookup order, dialect by content, limits, and
legato's own v0.60 suite in tests/piece_suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import PieceLibrary
from pieces.library import MAX_MOVEMENTS, MAX_RULES

from .support import make_library

SUITE = Path(__file__).resolve().parents[3] / "piece_suite"
PIECE = "name: {n}\nmovements:\n  - name: m\n    rules: [{{condition: done, next: COMPLETE}}]\n"
WORKFLOW = "name: {n}\nsteps:\n  - name: s\n    rules: [{{condition: done, next: COMPLETE}}]\n"


def test_names_and_lookup_order(tmp_path: Path) -> None:
    first = make_library(
        tmp_path / "first",
        {
            "pieces/both.yaml": PIECE.format(n="both"),
            "workflows/both.yaml": WORKFLOW.format(n="both"),
            "workflows/only-first.yaml": WORKFLOW.format(n="only-first"),
        },
    )
    second = make_library(
        tmp_path / "second",
        {
            "pieces/only-first.yaml": PIECE.format(n="only-first"),
            "workflows/w2.yaml": WORKFLOW.format(n="w2"),
        },
    )
    lib = PieceLibrary([first, second])
    assert {"both", "only-first", "w2", "callee"} <= set(lib.names())
    # Within a library pieces/ comes first; across libraries the first library wins.
    assert lib.load("both").dialect == "piece"
    assert lib.find("only-first") == (first / "workflows/only-first.yaml").resolve()
    assert lib.load("only-first").dialect == "workflow"
    assert lib.load("w2").movements[0].name == "s"


@pytest.mark.parametrize(
    ("text", "folder", "dialect", "errors"),
    [
        (WORKFLOW.format(n="x"), "pieces", "workflow", []),
        (PIECE.format(n="x"), "workflows", "piece", []),
        (
            "name: x\n",
            "workflows",
            None,
            ["steps: missing required key (a workflow needs at least one step)"],
        ),
        (
            "name: x\n",
            "pieces",
            None,
            ["movements: missing required key (a piece needs at least one movement)"],
        ),
    ],
)
def test_the_dialect_follows_the_content(tmp_path: Path, text, folder, dialect, errors) -> None:
    root = make_library(tmp_path, {f"{folder}/x.yaml": text})
    lib = PieceLibrary([root])
    report = lib.validate_file(root / folder / "x.yaml")
    assert [str(p) for p in report.errors] == errors
    if dialect:
        assert lib.load_file(root / folder / "x.yaml").dialect == dialect


def test_text_posted_without_a_folder_uses_the_search_path(tmp_path: Path) -> None:
    root = make_library(tmp_path, {})
    piece, report = PieceLibrary([root]).compile_text(
        "name: posted\ncapabilities: look\nsteps:\n  - uses: builder\n    with: {extra_policy: [], how: build}\n    rules: [{condition: done, next: COMPLETE}]\n"
    )
    assert report.ok, report
    assert piece.movements[0].allowed_tools == ["Read", "Grep"]


def test_size_limits_apply_to_workflows_as_written_and_expanded(tmp_path: Path) -> None:
    many = "".join(
        f"  - name: s{i}\n    rules: [{{condition: done, next: COMPLETE}}]\n"
        for i in range(MAX_MOVEMENTS + 1)
    )
    root = make_library(tmp_path, {"workflows/big.yaml": f"name: big\nsteps:\n{many}"})
    lib = PieceLibrary([root])
    assert [str(p) for p in lib.validate_file(root / "workflows/big.yaml").errors] == [
        f"steps: too many steps: {MAX_MOVEMENTS + 1} (at most {MAX_MOVEMENTS})"
    ]
    rules = ", ".join("{condition: r, next: COMPLETE}" for _ in range(MAX_RULES // 100 + 1))
    fragment = "parallel:\n" + "".join(f"  - {{name: m{i}}}\n" for i in range(100))
    tree = (
        "{self: ["
        + rules
        + "], parallel: {"
        + ", ".join(f"m{i}: [{rules}]" for i in range(100))
        + "}}"
    )
    steps = f"  - name: wide\n    uses: wide\n    rules: {tree}\n"
    root = make_library(
        tmp_path / "b",
        {"steps/wide.yaml": fragment, "workflows/w.yaml": f"name: w\nsteps:\n{steps}"},
    )
    errors = [str(p) for p in PieceLibrary([root]).validate_file(root / "workflows/w.yaml").errors]
    assert errors == [
        f"steps: too many rules: {101 * (MAX_RULES // 100 + 1)} (at most {MAX_RULES})"
    ]


# --- legato's own v0.60 suite ------------------------------------------------------------


@pytest.fixture(scope="module")
def suite() -> PieceLibrary:
    return PieceLibrary([SUITE])


WORKFLOWS = sorted(p.stem for p in (SUITE / "workflows").glob("*.yaml"))


def test_the_suite_has_a_workflow_for_each_feature() -> None:
    assert WORKFLOWS == [
        "wf-basics",
        "wf-call",
        "wf-callee",
        "wf-dynamic",
        "wf-fragments",
        "wf-gates",
        "wf-loop",
        "wf-parallel",
        "wf-run-call",
        "wf-run-call-parallel",
        "wf-run-callee",
        "wf-run-companion",
        "wf-run-completion",
        "wf-run-delay",
        "wf-run-enqueued",
        "wf-run-facets",
        "wf-run-gates",
        "wf-run-parallel",
        "wf-run-system",
        "wf-system",
        "wf-when",
    ]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_suite_workflow_validates_cleanly(suite: PieceLibrary, name: str) -> None:
    report = suite.validate_file(suite.find(name))
    assert report.problems == [], report
    assert suite.load(name).dialect == "workflow"


def test_suite_features_arrive_on_the_model(suite: PieceLibrary) -> None:
    basics = suite.load("wf-basics")
    assert basics.movements[1].capabilities == ["suite-change", "suite-web"]
    assert basics.movements[1].allowed_tools == ["Read", "Glob", "Grep", "Edit", "Write", "Bash"]
    assert basics.movements[0].allowed_tools == ["Read", "Glob", "Grep"]
    assert (basics.movements[1].session, basics.movements[1].session_key) == ("refresh", "writer")
    assert basics.movements[1].allow_git_commit and not basics.movements[0].allow_git_commit
    when = suite.load("wf-when")
    assert when.max_movements is None
    assert when.movements[0].structured_output["required"] == ["route", "findings", "score"]
    assert [r.kind for r in when.movements[1].rules] == ["when", "label_when", "label", "label"]
    fragments = suite.load("wf-fragments")
    assert [m.name for m in fragments.movements] == ["draft", "suite-review-pair"]
    assert fragments.movements[1].concurrency == 2
    dynamic = suite.load("wf-dynamic")
    review = dynamic.movements[1]
    assert (review.dynamic.fixed, review.dynamic.pool) == (
        ["style-check"],
        ["fact-check", "tone-check"],
    )
    assert review.dynamic.reports == ["draft.md"]
    write = dynamic.movements[0]
    assert (
        write.completion_retry.max_retry == 2 and write.companion.moderator.name == "suite-referee"
    )
    assert review.parallel[2].dynamic_facets.pool == "plain-focus"
    call = suite.load("wf-call")
    assert call.movements[1].vars == {"review_mode": "initial"}
    analyst = (SUITE / "facets/personas/analyst.md").read_text(encoding="utf-8").strip()
    assert call.callees[call.movements[1].call].movements[0].persona == analyst
    assert call.callees["wf-callee"].movements[0].rules[1].returns == "needs_rework"
    gates = suite.load("wf-gates")
    assert gates.movements[0].quality_gates == ["The text has a title."]
    assert gates.movements[0].gate_commands[0].command == "test -s draft.md"
    assert gates.movements[1].team_leader.max_parts == 2
    system = suite.load("wf-system")
    assert system.movements[0].kind == "system" and system.movements[0].delay_before_ms == 10
    loop = suite.load("wf-loop")
    assert loop.loop_monitors[0].ignore_steps == ["note"]


def test_an_oversized_workflow_file_is_named_a_workflow(tmp_path: Path) -> None:
    root = make_library(tmp_path, {"workflows/huge.yaml": "# " + "x" * (1024 * 1024 + 1)})
    report = PieceLibrary([root]).validate_file(root / "workflows/huge.yaml")
    assert [str(p) for p in report.errors] == ["workflow file is larger than 1024 KiB"]
