# ruff: noqa: E501
"""Step fragments: binding, merging, rule trees, limits, and where problems are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import PieceLibrary
from pieces.workflow.fragments import MAX_FRAGMENT_DEPTH, MAX_FRAGMENT_EXPANSIONS

from .support import make_library, validate


def load(root: Path, text: str, **files: str):
    make_library(root, {"workflows/t.yaml": text, **files})
    return PieceLibrary([root]).load("t")


def errors(root: Path, text: str, **files: str) -> list[str]:
    return [str(p).replace(str(root), "{lib}") for p in validate(root, text, **files).errors]


def test_bindings_fill_the_fragment_and_the_step_wins(tmp_path: Path) -> None:
    piece = load(
        tmp_path,
        """\
name: t
steps:
  - name: make
    uses: builder
    with: {extra_policy: [safe], how: check}
    persona: judge
    rules: [{condition: done, next: COMPLETE}]
""",
    )
    step = piece.movements[0]
    assert step.persona == "You decide."  # the step's own persona wins
    assert step.policies == ["Keep it tidy.", "Be safe."]  # list params are spliced in
    assert step.instruction == "Check the build."
    assert [r.condition for r in step.rules] == ["done"]


def test_mappings_merge_deeply_and_lists_are_replaced(tmp_path: Path) -> None:
    piece = load(
        tmp_path,
        """\
name: t
steps:
  - name: lead
    uses: leader
    team_leader: {max_parts: 1}
    knowledge: [domain]
    rules: [{condition: done, next: COMPLETE}]
""",
        **{
            "steps/leader.yaml": "team_leader: {persona: judge, max_parts: 3, part_persona: coder}\nknowledge: [domain, domain]\npolicy: tidy\n"
        },
    )
    step = piece.movements[0]
    assert (step.team_leader.max_parts, step.team_leader.persona) == (1, "You decide.")
    assert step.team_leader.part_persona == "You write code."
    assert step.knowledge == ["Domain notes."]
    assert step.policies == ["Keep it tidy."]


def test_the_name_comes_from_uses_and_fragments_live_in_sub_folders(tmp_path: Path) -> None:
    piece = load(
        tmp_path,
        "name: t\nsteps:\n  - uses: kits/solo\n    rules: [{condition: done, next: COMPLETE}]\n",
        **{"steps/kits/solo.yaml": "persona: coder\n"},
    )
    assert piece.movements[0].name == "solo"


PAIR = """\
name: t
steps:
  - name: both
    uses: pair
    rules:
      self:
        - {condition: 'all("ok")', next: COMPLETE}
        - {condition: 'any("bad")', next: ABORT}
      parallel:
        left: [{condition: ok}, {condition: bad}]
        right: [{condition: ok}, {condition: bad}]
"""


def test_a_parallel_fragment_takes_a_rule_tree(tmp_path: Path) -> None:
    step = load(tmp_path, PAIR).movements[0]
    assert step.kind == "parallel"
    assert [m.name for m in step.parallel] == ["left", "right"]
    assert [r.label for r in step.parallel[0].rules] == ["ok", "bad"]
    # The member "right" is itself a fragment, bound inside pair.yaml.
    assert step.parallel[1].policies == ["Keep it tidy.", "Be safe."]
    assert step.parallel[1].instruction == "Check the build."


def test_problems_in_a_rule_tree_are_reported_where_the_author_wrote_them(tmp_path: Path) -> None:
    text = PAIR.replace("left: [{condition: ok}", "left: [{condition: 'all(\"x\")'}")
    assert errors(tmp_path, text) == [
        "steps[0].rules.parallel.left[0].condition: parallel sub-step rules do not allow aggregate conditions (all()/any() join the outcomes of a parallel step's members)",
    ]
    text = PAIR.replace("next: ABORT", "next: elsewhere")
    assert errors(tmp_path, text) == ['steps[0].rules.self[1].next: unknown step "elsewhere"']


def test_problems_in_what_a_fragment_supplied_name_the_fragment(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "name: t\nsteps:\n  - uses: odd\n    rules: [{condition: done, next: COMPLETE}]\n",
        **{"steps/odd.yaml": "session: forever\n"},
    )
    assert found == [
        'steps[0].session: unknown session mode "forever" (continue, refresh or compact; from step fragment "odd" (steps/odd.yaml))'
    ]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            "{self: [{condition: x, next: COMPLETE}], parallel: {left: [{condition: ok}]}}",
            'steps[0].rules.parallel: the rule tree is missing member "right"',
        ),
        (
            "{self: [{condition: x, next: COMPLETE}], parallel: {left: [{condition: ok}], right: [{condition: ok}], extra: []}}",
            'steps[0].rules.parallel: the rule tree names unknown member "extra"',
        ),
        (
            "{self: [], parallel: {}}",
            'steps[0].rules.self: a step using fragment "pair" must define a non-empty rules list',
        ),
        (
            "{self: [{condition: x, next: COMPLETE}], parallel: {left: [], right: [{condition: ok}]}}",
            'steps[0].rules.parallel.left: a step using fragment "pair" must define a non-empty rules list',
        ),
        (
            "{self: [{condition: x, next: COMPLETE}]}",
            "steps[0].rules: invalid rule tree: expected self and parallel",
        ),
    ],
)
def test_rule_tree_refusals(tmp_path: Path, rules: str, message: str) -> None:
    text = f"name: t\nsteps:\n  - name: both\n    uses: pair\n    rules: {rules}\n"
    assert errors(tmp_path, text) == [message]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"steps/f.yaml": "persona: coder\nrules: [{condition: x}]\n"},
            'steps[0].uses: step fragment "f" must not define "rules"; define rules on the step that uses it',
        ),
        (
            {"steps/f.yaml": "parallel:\n  - {name: m, rules: [{condition: x}]}\n"},
            'steps[0].uses: step fragment "f" must not define "parallel[0].rules"; define rules on the step that uses it',
        ),
        (
            {"steps/f.yaml": "kind: system\n"},
            'steps[0]: step fragment "f" resolves to unsupported kind "system"',
        ),
        (
            {"steps/f.yaml": "uses: g\n", "steps/g.yaml": "uses: f\n"},
            "steps[0].uses: circular step fragment reference: f -> g -> f",
        ),
        (
            {"steps/f.yaml": "- a list\n"},
            'steps[0].uses: step fragment "f" must contain one step (a mapping)',
        ),
        (
            {"steps/f.yaml": "params: {p: {type: facet_ref}}\n"},
            'steps[0].uses: step fragment "f": params.p.facet_kind: param "p" needs a facet_kind (one of policy, knowledge, instruction, persona, report_format)',
        ),
        (
            {"steps/f.yaml": "policy: {$param: nope}\n"},
            'steps[0].uses: step fragment "f": policy: references undeclared param "nope"',
        ),
        (
            {
                "steps/f.yaml": "params: {p: {type: facet_ref, facet_kind: policy}}\npersona: {$param: p}\n"
            },
            'steps[0].with.p: missing required fragment param "p"',
        ),
        (
            {"steps/f.yaml": "params: {p: {type: workflow_ref}}\npersona: {$param: p}\n"},
            'steps[0].with.p: missing required fragment param "p"',
        ),
        (
            {"steps/f.yaml": "edit: {$param: x}\n"},
            'steps[0].uses: step fragment "f": edit: a parameter reference is not supported here',
        ),
    ],
)
def test_fragment_refusals(tmp_path: Path, files: dict, message: str) -> None:
    text = "name: t\nsteps:\n  - uses: f\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert errors(tmp_path, text, **files) == [message]


def test_bindings_must_match_the_parameter(tmp_path: Path) -> None:
    files = {
        "steps/f.yaml": "params:\n  p: {type: facet_ref, facet_kind: persona}\npersona: {$param: p}\n"
    }
    text = "name: t\nsteps:\n  - uses: f\n    with: {p: [coder]}\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert errors(tmp_path, text, **files) == [
        'steps[0].with.p: fragment param "p" needs one facet name'
    ]
    files = {
        "steps/f.yaml": "params:\n  p: {type: facet_ref, facet_kind: policy}\npersona: {$param: p}\n"
    }
    text = text.replace("[coder]", "coder")
    assert errors(tmp_path, text, **files) == [
        'steps[0].uses: step fragment "f": persona: param "p" has incompatible facet kind'
    ]


def test_a_binding_may_forward_a_parameter_of_the_calling_workflow(tmp_path: Path) -> None:
    callee = """\
name: sub
subworkflow:
  callable: true
  params:
    extra: {type: 'facet_ref[]', facet_kind: policy, default: [safe]}
steps:
  - uses: builder
    with: {extra_policy: {$param: extra}, how: build}
    rules: [{condition: done, next: COMPLETE}]
"""
    root = make_library(tmp_path, {"workflows/sub.yaml": callee})
    lib = PieceLibrary([root])
    assert lib.load("sub").movements[0].policies == ["Keep it tidy.", "Be safe."]
    wrong = callee.replace("facet_kind: policy, default", "facet_kind: knowledge, default")
    (root / "workflows/sub.yaml").write_text(wrong.replace("[safe]", "[domain]"))
    assert [str(p) for p in lib.validate_file(root / "workflows/sub.yaml").errors] == [
        'steps[0].with.extra_policy: fragment param "extra_policy" has incompatible facet kind'
    ]
    (root / "workflows/sub.yaml").write_text(callee.replace("$param: extra}", "$param: other}"))
    assert [str(p) for p in lib.validate_file(root / "workflows/sub.yaml").errors] == [
        'steps[0].with.extra_policy: fragment binding references undeclared workflow param "other"'
    ]


def test_a_nested_fragment_receives_its_parents_binding(tmp_path: Path) -> None:
    files = {
        "steps/outer.yaml": "params:\n  pol: {type: 'facet_ref[]', facet_kind: policy}\nuses: builder\nwith: {extra_policy: {$param: pol}, how: check}\n",
    }
    text = "name: t\nsteps:\n  - uses: outer\n    with: {pol: [safe]}\n    rules: [{condition: done, next: COMPLETE}]\n"
    make_library(tmp_path, {"workflows/t.yaml": text, **files})
    step = PieceLibrary([tmp_path]).load("t").movements[0]
    assert (step.name, step.policies) == ("outer", ["Keep it tidy.", "Be safe."])


def test_review_completion_is_the_old_name_of_completion_retry(tmp_path: Path) -> None:
    text = "name: t\nsteps:\n  - name: a\n    review_completion: {retry_instruction: check}\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert (
        load(tmp_path, text).movements[0].completion_retry.retry_instruction == "Check the build."
    )
    both = text.replace(
        "    review_completion:",
        "    completion_retry: {retry_instruction: x}\n    review_completion:",
    )
    assert errors(tmp_path, both) == [
        'steps[0].completion_retry: a step cannot give both "completion_retry" and its old name "review_completion"'
    ]


def test_depth_and_expansion_limits(tmp_path: Path) -> None:
    chain = {f"steps/f{i}.yaml": f"uses: f{i + 1}\n" for i in range(MAX_FRAGMENT_DEPTH + 1)}
    chain[f"steps/f{MAX_FRAGMENT_DEPTH + 1}.yaml"] = "persona: coder\n"
    text = "name: t\nsteps:\n  - uses: f0\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert errors(tmp_path / "deep", text, **chain) == [
        f'steps[0].uses: step fragment "f{MAX_FRAGMENT_DEPTH}" nests deeper than {MAX_FRAGMENT_DEPTH} fragments'
    ]
    members = "\n".join(f"  - {{name: m{i}, uses: leaf}}" for i in range(9))
    files = {"steps/leaf.yaml": "persona: coder\n", "steps/wide.yaml": f"parallel:\n{members}\n"}
    steps = "\n".join(
        f"  - name: s{i}\n    uses: wide\n    rules: {{self: [{{condition: x, next: COMPLETE}}], parallel: {{{', '.join(f'm{j}: [{{condition: ok}}]' for j in range(9))}}}}}"
        for i in range(60)
    )
    found = errors(tmp_path / "wide", f"name: t\nsteps:\n{steps}\n", **files)
    assert (
        f"more than {MAX_FRAGMENT_EXPANSIONS} step fragment expansions in one workflow" in found[0]
    )
