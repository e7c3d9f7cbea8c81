# ruff: noqa: E501
"""workflow_call: finding, binding and embedding called workflows; depth and recursion."""

from __future__ import annotations

from pathlib import Path

from pieces import Piece, PieceLibrary
from pieces.workflow.calls import MAX_CALL_DEPTH

from .support import make_library


def callable_wf(name: str, calls: str | None = None, returns: str = "[]") -> str:
    step = (
        f"  - name: go\n    call: {calls}\n    rules: [{{condition: COMPLETE, next: COMPLETE}}, {{condition: ABORT, next: ABORT}}]\n"
        if calls
        else "  - name: go\n    rules: [{condition: done, next: COMPLETE}]\n"
    )
    return f"name: {name}\nsubworkflow:\n  callable: true\n  returns: {returns}\nsteps:\n{step}"


def errors(lib: PieceLibrary, root: Path, name: str) -> list[str]:
    return [str(p) for p in lib.validate_file(root / "workflows" / f"{name}.yaml").errors]


def test_a_called_workflow_is_embedded_with_its_arguments_bound(tmp_path: Path) -> None:
    root = make_library(
        tmp_path,
        {
            "workflows/main.yaml": """\
name: main
steps:
  - name: first
    call: callee
    vars: {review_mode: initial, round: 1}
    rules:
      - {condition: COMPLETE, next: second}
      - {condition: redo, next: first}
      - {condition: ABORT, next: ABORT}
  - name: second
    parallel:
      - name: member
        call: callee
        args: {how: check}
        rules: [{condition: COMPLETE}, {condition: redo}, {condition: ABORT}]
      - name: other
        rules: [{condition: fine}]
    rules:
      - {condition: 'all("COMPLETE", "fine")', next: COMPLETE}
      - {condition: 'any("error")', next: ABORT}
"""
        },
    )
    piece = PieceLibrary([root]).load("main")
    first, second = piece.movements
    assert first.kind == "workflow_call" and first.call == "callee"
    assert first.vars == {"review_mode": "initial", "round": 1}
    member = second.parallel[0]
    assert member.call.startswith("callee@") and member.args == {"how": "check"}
    assert set(piece.callees) == {"callee", member.call}
    # Each embedding is the callee compiled with its own arguments (or the defaults).
    assert piece.callees["callee"].movements[0].instruction.startswith("Build {task}.")
    assert piece.callees["callee"].movements[0].instruction.endswith("Report what you did.")
    assert piece.callees[member.call].movements[0].instruction == "Check the build."
    assert piece.callees["callee"].subworkflow.returns == ["redo"]
    assert Piece.model_validate(piece.model_dump(mode="json")) == piece


def test_the_callee_must_be_callable_and_its_results_known(tmp_path: Path) -> None:
    root = make_library(
        tmp_path,
        {
            "workflows/plain.yaml": "name: plain\nsteps:\n  - name: a\n    rules: [{condition: done, next: COMPLETE}]\n",
            "workflows/main.yaml": """\
name: main
steps:
  - name: a
    call: plain
    rules: [{condition: COMPLETE, next: b}]
  - name: b
    call: callee
    rules: [{condition: COMPLETE, next: COMPLETE}, {condition: rdo, next: ABORT}]
""",
        },
    )
    assert errors(PieceLibrary([root]), root, "main") == [
        'steps[0].call: workflow "plain" is not callable (the called workflow needs subworkflow.callable: true)',
        'steps[1].rules[1].condition: workflow_call step "b" cannot route on unsupported child result "rdo" (did you mean "redo"?)',
    ]


def test_a_broken_callee_is_reported_at_the_call(tmp_path: Path) -> None:
    root = make_library(
        tmp_path,
        {
            "workflows/broken.yaml": callable_wf("broken").replace(
                "next: COMPLETE", "next: nowhere"
            ),
            "workflows/main.yaml": "name: main\nsteps:\n  - name: a\n    call: broken\n    rules: [{condition: COMPLETE, next: COMPLETE}]\n",
        },
    )
    assert errors(PieceLibrary([root]), root, "main") == [
        'steps[0].call: called workflow "broken": steps[0].rules[0].next: unknown step "nowhere"',
    ]


def test_recursion_is_refused(tmp_path: Path) -> None:
    root = make_library(
        tmp_path,
        {
            "workflows/ping.yaml": callable_wf("ping", calls="pong"),
            "workflows/pong.yaml": callable_wf("pong", calls="ping"),
            "workflows/self.yaml": callable_wf("self", calls="self"),
        },
    )
    lib = PieceLibrary([root])
    assert errors(lib, root, "self") == ["steps[0].call: workflow_call cycle: self -> self"]
    assert errors(lib, root, "ping") == [
        'steps[0].call: called workflow "pong": steps[0].call: workflow_call cycle: ping -> pong -> ping'
    ]


def test_the_call_chain_is_at_most_five_workflows_deep(tmp_path: Path) -> None:
    files = {f"workflows/w{i}.yaml": callable_wf(f"w{i}", calls=f"w{i + 1}") for i in range(1, 6)}
    files["workflows/w6.yaml"] = callable_wf("w6")
    root = make_library(tmp_path, files)
    lib = PieceLibrary([root])
    assert MAX_CALL_DEPTH == 5
    # w2 -> w3 -> w4 -> w5 -> w6 is five workflows: allowed.
    assert errors(lib, root, "w2") == []
    assert errors(lib, root, "w1") == [
        "steps[0].call: workflow_call depth exceeds the limit (5): w1 -> w2 -> w3 -> w4 -> w5 -> w6"
    ]


def test_the_callers_own_library_comes_first(tmp_path: Path) -> None:
    shared = make_library(tmp_path / "shared", {"workflows/callee.yaml": callable_wf("callee")})
    own = make_library(
        tmp_path / "own",
        {
            "workflows/main.yaml": "name: main\nsteps:\n  - name: a\n    call: callee\n    rules: [{condition: COMPLETE, next: COMPLETE}]\n"
        },
    )
    # shared's callee has a step "go"; own's (from FILES) has "work".
    piece = PieceLibrary([shared, own]).load("main")
    assert piece.callees["callee"].movements[0].name == "work"


def test_arguments_are_checked_against_the_callee(tmp_path: Path) -> None:
    root = make_library(
        tmp_path,
        {
            "workflows/pools.yaml": """\
name: pools
facet_pools:
  mine: {uses: areas}
subworkflow:
  callable: true
  params:
    pool: {type: facet_pool_ref, default: mine}
    watchers: {type: 'companion_ref[]', default: []}
    who: {type: facet_ref, facet_kind: persona, default: coder}
steps:
  - name: a
    persona: {$param: who}
    dynamic_facets: {pool: {$param: pool}}
    companion: {$param: watchers}
    rules: [{condition: done, next: COMPLETE}]
""",
            "workflows/main.yaml": """\
name: main
steps:
  - name: a
    call: pools
    args: {pool: other, watchers: {fixed: [watcher], moderator: watcher}, who: nobody}
    rules: [{condition: COMPLETE, next: b}]
  - name: b
    call: pools
    args: {watchers: {fixed: [watcher], moderator: referee}, who: judge}
    rules: [{condition: COMPLETE, next: COMPLETE}]
""",
        },
    )
    lib = PieceLibrary([root])
    assert errors(lib, root, "main") == [
        'steps[0].args.pool: workflow_call arg "pool" names unknown facet pool "other"',
        'steps[0].args.watchers: workflow_call arg "watchers": the moderator must be a companion that is not also a reviewer',
        'steps[0].args.who: workflow_call arg "who" names unknown persona facet "nobody"',
        'steps[0].call: called workflow "pools": steps[0].dynamic_facets.pool: unknown facet pool "other"',
        'steps[0].call: called workflow "pools": steps[0].companion.moderator: the moderator cannot also be a fixed or pool reviewer',
    ]
    (root / "workflows/main.yaml").write_text(
        (root / "workflows/main.yaml")
        .read_text()
        .split("  - name: b")[0]
        .replace("next: b", "next: COMPLETE")
        .replace(
            "{pool: other, watchers: {fixed: [watcher], moderator: watcher}, who: nobody}",
            "{watchers: [watcher]}",
        )
    )
    callee = next(iter(lib.load("main").callees.values()))
    step = callee.movements[0]
    assert [c.name for c in step.companion.fixed] == ["watcher"]
    assert step.dynamic_facets.pool == "mine" and step.persona == "You write code."
    standalone = lib.load("pools").movements[0]
    assert standalone.companion is None  # the default is no companion
