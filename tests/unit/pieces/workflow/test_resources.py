# ruff: noqa: E501
"""What a workflow reads from its library: capability sets, prose rules, facet includes,
facet pools, companions and schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import PieceLibrary

from .support import make_library, validate


def load(root: Path, text: str, **files: str):
    make_library(root, {"workflows/t.yaml": text, **files})
    return PieceLibrary([root]).load("t")


def errors(root: Path, text: str, **files: str) -> list[str]:
    return [str(p).replace(str(root), "{lib}") for p in validate(root, text, **files).errors]


CAPS = """\
name: t
capabilities: look
steps:
  - name: plain
    rules: [{condition: done, next: mixed}]
  - name: mixed
    capabilities: [change, net]
    rules: [{condition: done, next: group}]
  - name: group
    capabilities: change
    parallel:
      - name: inherits
        rules: [{condition: ok}]
      - name: own
        capabilities: look
        rules: [{condition: ok}]
    rules: [{condition: 'all("ok")', next: COMPLETE}]
"""


def test_capabilities_default_replace_and_pass_to_members(tmp_path: Path) -> None:
    piece = load(tmp_path, CAPS)
    tools = {m.name: (m.capabilities, m.allowed_tools) for m in piece.all_movements()}
    assert tools["plain"] == (["look"], ["Read", "Grep"])
    # A set without Claude tools (net) leaves the other's list in place.
    assert tools["mixed"] == (["change", "net"], ["Read", "Grep", "Edit", "Write"])
    assert tools["inherits"] == (["change"], ["Read", "Grep", "Edit", "Write"])
    assert tools["own"] == (["look"], ["Read", "Grep"])


def test_capability_sets_extend_and_are_checked(tmp_path: Path) -> None:
    files = {
        "provider-options/more.yaml": "extends: look\nopencode:\n  network_access: true\n",
        "provider-options/loop.yaml": "extends: loop\n",
        "provider-options/wide.yaml": "claude:\n  allowed_tools: [Read]\n  max_turns: 9\n",
    }
    text = "name: t\nsteps:\n  - name: a\n    capabilities: more\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert load(tmp_path, text, **files).movements[0].allowed_tools == ["Read", "Grep"]
    assert errors(tmp_path, text.replace("more", "loop"), **files) == [
        'steps[0].capabilities: capabilities "loop" extends itself'
    ]
    assert errors(tmp_path, text.replace("more", "wide"), **files) == [
        'steps[0].capabilities: capabilities "wide" may only grant allowed_tools, network_access, sandbox, skills, but "claude.max_turns" is not one of them'
    ]


def test_all_steps_rules_are_read_into_both_positions(tmp_path: Path) -> None:
    text = """\
name: t
all_steps:
  rules: [house, {ref: extra, position: before_instruction}]
steps:
  - name: a
    rules: [{condition: done, next: COMPLETE}]
"""
    piece = load(tmp_path, text, **{"workflows/rules/extra.md": "Read the task twice.\n"})
    assert piece.all_steps_rules == ["House rule: be brief."]
    assert piece.all_steps_rules_before == ["Read the task twice."]


@pytest.mark.parametrize(
    ("prose", "message"),
    [
        (
            "See {report:plan.md} first.",
            'all_steps.rules[0]: workflow-wide rule "bad" must not contain {report:…} references',
        ),
        (
            "## Required Outputs\n- a table",
            'all_steps.rules[0]: workflow-wide rule "bad" must not contain a required output heading',
        ),
        (
            "### **Required Output** (include headings)",
            'all_steps.rules[0]: workflow-wide rule "bad" must not contain a required output heading',
        ),
    ],
)
def test_prose_rules_are_not_report_instructions(tmp_path: Path, prose: str, message: str) -> None:
    text = "name: t\nall_steps: {rules: [bad]}\nsteps:\n  - name: a\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert errors(tmp_path, text, **{"workflows/rules/bad.md": prose}) == [message]


def test_facet_includes_are_expanded_and_checked(tmp_path: Path) -> None:
    text = "name: t\nsteps:\n  - name: a\n    instruction: deep\n    rules: [{condition: done, next: COMPLETE}]\n"
    files = {
        "facets/instructions/deep.md": "Start.\n{{include:instructions/middle}}\nEnd.",
        "facets/partials/instructions/middle.md": "Middle {{ include : instructions/shared-tail }}",
    }
    assert load(tmp_path, text, **files).movements[0].instruction == (
        "Start.\nMiddle Report what you did.\nEnd."
    )
    files["facets/partials/instructions/middle.md"] = "{{include:instructions/deep-loop}}"
    files["facets/partials/instructions/deep-loop.md"] = "{{include:instructions/middle}}"
    assert errors(tmp_path / "b", text, **files) == [
        "steps[0].instruction: cyclic facet include: middle -> deep-loop -> middle"
    ]
    files["facets/partials/instructions/middle.md"] = "{{include:instructions/absent}}"
    assert errors(tmp_path / "c", text, **files) == [
        'steps[0].instruction: missing facet include "instructions/absent" (facets/partials/instructions/absent.md)'
    ]
    files["facets/partials/instructions/middle.md"] = "{{include:personas/x}}"
    assert errors(tmp_path / "d", text, **files) == [
        'steps[0].instruction: invalid facet include "personas/x": expected {{include:<kind>/<name>}}'
    ]


def test_facet_pools_resolve_their_facets(tmp_path: Path) -> None:
    text = """\
name: t
facet_pools:
  shared: {uses: areas}
  local:
    knowledge: {notes: ../facets/knowledge/domain.md}
    candidates:
      - {id: n, description: Notes, knowledge: notes, policy: [tidy, safe]}
steps:
  - name: a
    dynamic_facets:
      pool: local
      selector: {persona: judge, instruction: Choose.}
    rules: [{condition: done, next: COMPLETE}]
"""
    piece = load(tmp_path, text)
    shared = piece.facet_pools["shared"].candidates
    assert [(c.id, c.policies, c.knowledge) for c in shared] == [
        ("tidy", ["Keep it tidy."], []),
        ("domain", [], ["Domain notes."]),
    ]
    local = piece.facet_pools["local"].candidates[0]
    assert (local.knowledge, local.policies) == (["Domain notes."], ["Keep it tidy.", "Be safe."])
    facets = piece.movements[0].dynamic_facets
    assert (facets.pool, facets.selector_persona, facets.selector_instruction) == (
        "local",
        "You decide.",
        "Choose.",
    )


def test_an_external_pool_is_checked_in_its_own_file(tmp_path: Path) -> None:
    files = {
        "facet-pools/odd.yaml": "candidates:\n  - {id: a, description: x, policy: ghost}\nextra: 1\n"
    }
    text = "name: t\nfacet_pools: {p: {uses: odd}}\nsteps:\n  - name: a\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert errors(tmp_path, text, **files) == [
        "facet_pools.p.uses: facet pool odd: extra: unknown key",
        'facet_pools.p.uses: facet pool odd: candidates[0].policy: pool file "odd" candidate "a" names unknown policy "ghost" (pool facets must be files or section entries naming files)',
    ]


def test_companions_are_resolved_from_their_files(tmp_path: Path) -> None:
    text = "name: t\nsteps:\n  - name: a\n    companion: {fixed: [watcher], pool: [watcher], moderator: referee}\n    rules: [{condition: done, next: COMPLETE}]\n"
    spec = load(tmp_path, text).movements[0].companion
    watcher = spec.fixed[0]
    assert (watcher.name, watcher.persona, watcher.persona_file) == ("watcher", "You decide.", True)
    assert (watcher.policies, watcher.instruction, watcher.interval_ms) == (
        ["Keep it tidy."],
        "Check the build.",
        15000,
    )
    assert (
        spec.pool == [watcher]
        and spec.moderator.name == "referee"
        and spec.moderator.persona is None
    )
    files = {"companions/watcher.yaml": "name: someone\ndescription: x\n"}
    assert errors(tmp_path / "b", text, **files) == [
        'steps[0].companion.fixed: companion reference "watcher" does not match its name "someone"',
        'steps[0].companion.pool: companion reference "watcher" does not match its name "someone"',
    ]
    files = {"companions/referee.yaml": "name: referee\ndescription: x\n"}
    assert errors(tmp_path / "c", text, **files) == [
        'steps[0].companion.moderator: companion "referee" names unknown instructions facet "companion-watch-review"'
    ]


def test_structured_output_schemas_come_from_the_library(tmp_path: Path) -> None:
    text = "name: t\nschemas: {judgement: verdict}\nsteps:\n  - name: a\n    structured_output: {schema_ref: judgement}\n    rules: [{condition: when(structured.a.ok), next: COMPLETE}]\n"
    step = load(tmp_path, text).movements[0]
    assert step.structured_output_ref == "judgement"
    assert step.structured_output == {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    assert errors(tmp_path / "b", text.replace("verdict", "../x")) == [
        'steps[0].structured_output.schema_ref: invalid schema name "../x": expected a bare name'
    ]
    assert errors(tmp_path / "c", text, **{"schemas/verdict.json": "[1, 2]"}) == [
        'steps[0].structured_output.schema_ref: schema "verdict" must be a JSON object'
    ]


def test_facet_inheritance_splices_the_parent_in(tmp_path: Path) -> None:
    text = "name: t\nsteps:\n  - name: a\n    instruction: build\n    rules: [{condition: done, next: COMPLETE}]\n"
    base = make_library(tmp_path / "base", {})  # its build.md: "Build {task}. + include"
    own = make_library(
        tmp_path / "own",
        {
            "workflows/t.yaml": text,
            "facets/instructions/build.md": "First this.\n{extends:build}\nThen that.",
        },
    )
    step = PieceLibrary([own, base]).load("t").movements[0]
    # The file does not extend itself: the parent is the next library's build.md.
    assert step.instruction == "First this.\nBuild {task}.\n\nReport what you did.\nThen that."


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"facets/instructions/a.md": "{extends:b}", "facets/instructions/b.md": "{extends:a}"},
            "steps[0].instruction: facet inheritance cycle: a -> b -> a",
        ),
        (
            {"facets/instructions/a.md": "{extends:ghost}"},
            'steps[0].instruction: facet extends parent "ghost" not found for a.md',
        ),
        (
            {"facets/instructions/a.md": "Text {extends:check} inline"},
            "steps[0].instruction: a facet extends directive must be on its own line in a.md",
        ),
        (
            {"facets/instructions/a.md": "{extends:check}\n{extends:build}"},
            "steps[0].instruction: a.md contains more than one extends directive",
        ),
    ],
)
def test_facet_inheritance_refusals(tmp_path: Path, files: dict, message: str) -> None:
    text = "name: t\nsteps:\n  - name: a\n    instruction: a\n    rules: [{condition: done, next: COMPLETE}]\n"
    assert errors(tmp_path, text, **files) == [message]
