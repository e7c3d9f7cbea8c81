# ruff: noqa: E501  (exact messages read better unwrapped)
"""A catalogue of broken pieces and the exact problems validation reports for each."""

from __future__ import annotations

import pytest
import yaml

from pieces import PieceLibrary

# libyaml (used when PyYAML has it) and the pure-Python parser word this differently.
UNCLOSED_FLOW = (
    "did not find expected node content"
    if hasattr(yaml, "CSafeLoader")
    else "expected the node content, but found '<stream end>'"
)

CASES = [
    pytest.param(
        """\
name: x
movements: [
""",
        [
            "line 3, column 1: invalid YAML: " + UNCLOSED_FLOW,
        ],
        [],
        id="yaml-syntax",
    ),
    pytest.param(
        """\
- a
- b
""",
        [
            "expected the piece to be a mapping, got a list",
        ],
        [],
        id="not-a-mapping",
    ),
    pytest.param(
        "name: x\n",
        [
            "movements: missing required key (a piece needs at least one movement)",
        ],
        [],
        id="missing-movements",
    ),
    pytest.param(
        """\
name: x
movements: []
""",
        [
            "movements: must list at least one movement",
        ],
        [],
        id="empty-movements",
    ),
    pytest.param(
        """\
name: 12
description: [a]
max_movements: ten
movements:
  - name: a
    edit: maybe
    pass_previous_response: 1
    allowed_tools: 5
    policy: [review, 3]
    rules: {condition: x}
  - just a string
  - name: b
    rules:
      - condition: 7
        next: COMPLETE
      - nope
""",
        [
            "name: expected a string, got integer 12 (quote it to make it text)",
            "description: expected a string, got a list",
            'max_movements: expected an integer, got string "ten"',
            "movements[0].policy[1]: expected a string, got integer 3",
            'movements[0].edit: expected true or false, got string "maybe"',
            "movements[0].allowed_tools: expected a string or a list of strings, got integer 5",
            "movements[0].pass_previous_response: expected true or false, got integer 1",
            "movements[0].rules: expected a list, got a mapping",
            'movements[1]: expected a mapping, got string "just a string"',
            "movements[2].rules[0].condition: expected a string, got integer 7 (quote it to make it text)",
            'movements[2].rules[1]: expected a mapping, got string "nope"',
        ],
        [
            "movements[0].rules: no rules: the job aborts after this movement (no rule can match) (add a rule such as {condition: Done, next: COMPLETE})",
            'movements[2]: movement "b" is unreachable from "a"',
            'movements: no route from "a" reaches COMPLETE',
        ],
        id="bad-types",
    ),
    pytest.param(
        """\
name: x
initial_movement: plna
movements:
  - name: plan
    rules:
      - condition: ok
        next: reviw
      - condition: other
        next: somewhere-else-entirely
      - condition: missing next
      - condition: to sub
        next: alpha
  - name: plan
    rules: [{condition: ok, next: COMPLETE}]
  - name: COMPLETE
    rules: [{condition: ok, next: COMPLETE}]
  - name: review
    parallel:
      - name: alpha
        rules: [{condition: ok}]
      - name: plan
        rules: [{condition: ok}]
    rules:
      - condition: all("ok")
        next: COMPLETE
""",
        [
            'movements[1].name: duplicate movement name "plan" (first defined at movements[0])',
            'movements[2].name: "COMPLETE" is reserved for rule targets',
            'movements[3].parallel[1].name: duplicate movement name "plan" (first defined at movements[0])',
            'initial_movement: unknown movement "plna" (did you mean "plan"?)',
            'movements[0].rules[0].next: unknown movement "reviw" (did you mean "review"?)',
            'movements[0].rules[1].next: unknown movement "somewhere-else-entirely"',
            "movements[0].rules[2].next: missing required key (COMPLETE, ABORT or a movement name)",
            'movements[0].rules[3].next: "alpha" is a parallel sub-movement (route to its parent "review")',
        ],
        [],
        id="names-and-routes",
    ),
    pytest.param(
        """\
name: x
initial_movement: alpha
movements:
  - name: review
    parallel:
      - name: alpha
        rules: [{condition: ok}]
    rules:
      - condition: all("ok")
        next: COMPLETE
""",
        [
            'initial_movement: "alpha" is a parallel sub-movement (start at its parent "review")',
        ],
        [],
        id="initial-sub",
    ),
    pytest.param(
        """\
name: x
personas:
  lead: 5
movements:
  - name: a
    persona: plannr
    policy: [review, revew]
    knowledge: no-such-knowledge-anywhere
    instruction: implemnt
    output_contracts:
      report:
        - name: out.md
          format: plna
    rules: [{condition: ok, next: COMPLETE}]
""",
        [
            "personas.lead: expected a file path, got integer 5",
        ],
        [
            'movements[0].persona: persona "plannr" is not a facet; the text itself is used (did you mean "planner"?)',
            'movements[0].output_contracts.report[0].format: report format "plna" is not a facet; the text itself is used (did you mean "plan"?)',
            'movements[0].policy[1]: policy "revew" is not a facet; the text itself is used (did you mean "review"?)',
            'movements[0].instruction: instruction "implemnt" is not a facet; the text itself is used (did you mean "implement"?)',
        ],
        id="facets",
    ),
    pytest.param(
        """\
name: x
movements:
  - name: a
    rules:
      - condition: all("ok")
        next: b
      - condition: any(ok)
        next: b
      - condition: ai("x", "y")
        next: b
  - name: b
    parallel:
      - name: s1
        rules:
          - condition: ok
          - condition: any("ok")
      - name: s2
        rules: [{condition: ok, next: a}]
      - name: s3
        rules: [{condition: fine}]
    rules:
      - condition: all("ok", "ok")
        next: COMPLETE
      - condition: any("okay")
        next: COMPLETE
      - condition: all("ok", "ok", "fien")
        next: COMPLETE
      - condition: Looks fine
        next: COMPLETE
""",
        [
            "movements[0].rules[0].condition: all() is only allowed on a parallel movement (aggregate conditions join the outcomes of parallel sub-movements)",
            'movements[0].rules[1].condition: invalid condition: any() needs double-quoted arguments, e.g. any("approved")',
            "movements[1].parallel[0].rules[1].condition: any() is only allowed on a parallel movement (aggregate conditions join the outcomes of parallel sub-movements)",
        ],
        [
            "movements[1].rules[0].condition: all() has 2 arguments but the movement has 3 sub-movements: this rule can never match (give one argument, or exactly one per sub-movement (matched by position))",
            'movements[1].rules[1].condition: any sub-movement has no rule "okay" (did you mean "ok"?)',
            'movements[1].rules[2].condition: "s3" has no rule "fien" (did you mean "fine"?)',
            "movements[1].rules[3].condition: a parallel movement has no output of its own (use all() or any() over its sub-movements' outcomes)",
            'movements[1].parallel[1].rules[0].next: ignored on a parallel sub-movement (the rules of "b" decide where to go)',
        ],
        id="conditions",
    ),
    pytest.param(
        """\
name: x
movements:
  - name: a
    required_permission_mode: readonyl
    tier: "fast queue"
    instruction: review-code
    instruction_template: "Do {task}"
    rules: [{condition: ok, next: b}]
  - name: b
    parallel:
      - name: s
        parallel:
          - name: t
        rules: [{condition: ok}]
    rules: [{condition: all("ok"), next: COMPLETE}]
  - name: c
    parallel: []
    rules: [{condition: ok, next: COMPLETE}]
  - name: d
    parallel:
      - name: e
        rules: [{condition: ok}]
""",
        [
            "movements[1].parallel[0].parallel: parallel movements cannot be nested",
            "movements[2].parallel: must list at least one sub-movement",
            'movements[0].required_permission_mode: unknown permission mode "readonyl" (did you mean "readonly"?)',
            "movements[0].tier: invalid tier name \"fast queue\" (letters, digits, '_' and '-' only)",
            'movements[3].rules: a parallel movement needs rules (e.g. condition: all("approved"))',
        ],
        [
            "movements[0].instruction_template: deprecated alias of instruction (TAKT reads it as instruction; rename the key)",
            "movements[0].instruction_template: ignored because instruction is also given",
            "movements[2].rules[0].condition: a parallel movement has no output of its own (use all() or any() over its sub-movements' outcomes)",
            'movements[2]: movement "c" is unreachable from "a"',
            'movements[3]: movement "d" is unreachable from "a"',
            "movements[0].instruction: {report:00-plan.md} names a report no movement writes",
        ],
        id="movement-fields",
    ),
    pytest.param(
        """\
name: x
movements:
  - name: review
    rules: [{condition: ok, next: COMPLETE}, {condition: no, next: fix}]
  - name: fix
    rules: [{condition: ok, next: review}]
loop_monitors:
  - cycle: [review, fxi]
    judge:
      rules:
        - condition: go on
          next: reviw
  - cycle: review
    threshold: 0
    judge:
      persona: supervisor
      rules: []
  - threshold: two
    extra: 1
  - cycle: []
    threshold: 1
    judge:
      rules:
        - condition: all("x")
          next: ABORT
""",
        [
            "movements[0].rules[1].condition: expected a string, got boolean false (YAML reads unquoted yes/no/on/off/true/false as booleans; quote the text)",
            "loop_monitors[1].threshold: must be at least 1, got 0",
            "loop_monitors[1].judge.rules: a loop judge needs at least one rule",
            "loop_monitors[2].cycle: missing required key",
            'loop_monitors[2].threshold: expected an integer, got string "two"',
            "loop_monitors[2].judge: missing required key (a loop monitor needs a judge with rules)",
            "loop_monitors[3].cycle: must name at least two movements",
            'loop_monitors[0].cycle[1]: unknown movement "fxi" (did you mean "fix"?)',
            'loop_monitors[0].judge.rules[0].next: unknown movement "reviw" (did you mean "review"?)',
            "loop_monitors[3].judge.rules[0].condition: all() is only allowed on a parallel movement",
        ],
        [
            "loop_monitors[2].extra: unknown key",
        ],
        id="loop-monitors",
    ),
    pytest.param(
        """\
name: x
max_movements: 5
max_iterations: 7
descripton: typo
piece_config:
  provider_options:
    claude: {sandbox: true, effort: high}
  timeout: 3
movements:
  - name: a
    persona_nme: x
    provider_options:
      codex: {allowed_tools: [Read], reasoning: high}
    output_contracts:
      reprot: x
    instruction_template: "See {report:plan.md} and {report:out.md}"
    rules:
      - condition: ok
        next: b
        apendix: x
  - name: b
    output_contracts:
      report:
        - Output: out.md
    rules:
      - condition: again
        next: a
  - name: orphan
  - name: orphan2
    rules: [{condition: ok, next: orphan}]
""",
        [],
        [
            'descripton: unknown key (did you mean "description"?)',
            "max_iterations: ignored because max_movements is also given",
            'movements[0].persona_nme: unknown key (did you mean "persona_name"?)',
            "movements[0].instruction_template: deprecated alias of instruction (TAKT reads it as instruction; rename the key)",
            'movements[0].rules[0].apendix: unknown key (did you mean "appendix"?)',
            "movements[0].provider_options.codex.reasoning: provider option ignored by legato",
            'movements[0].output_contracts.reprot: unknown key (did you mean "report"?)',
            "piece_config.provider_options.claude.sandbox: ignored by legato (provider-specific option)",
            "piece_config.provider_options.claude.effort: ignored by legato (provider-specific option)",
            "piece_config.timeout: ignored by legato (provider-specific option)",
            "movements[2].rules: no rules: the job aborts after this movement (no rule can match) (add a rule such as {condition: Done, next: COMPLETE})",
            'movements[2]: movement "orphan" is unreachable from "a"',
            'movements[3]: movement "orphan2" is unreachable from "a"',
            'movements: no route from "a" reaches COMPLETE',
            "movements[0].instruction: {report:plan.md} names a report no movement writes",
        ],
        id="warnings",
    ),
    pytest.param(
        """\
name: x
movements:
  - name: a
    output_contracts:
      report:
        - 5
        - {A: 1}
        - {A: a.md, B: b.md}
        - {name: c.md, format: 3, use_judge: "yes", extra: 1}
        - plain.md
    rules: [{condition: ok, next: COMPLETE}]
""",
        [
            "movements[0].output_contracts.report[0]: expected a report entry ({name, format} or {Label: file}), got integer 5",
            "movements[0].output_contracts.report[1].A: expected a report file name, got integer 1",
            "movements[0].output_contracts.report[2]: expected {name, format, use_judge} or a single {Label: file} pair",
            'movements[0].output_contracts.report[3].use_judge: expected true or false, got string "yes"',
            "movements[0].output_contracts.report[3].format: expected a string, got integer 3 (quote it to make it text)",
        ],
        [
            "movements[0].output_contracts.report[3].extra: unknown key",
        ],
        id="contracts",
    ),
    pytest.param(
        """\
movements:
  - name: a
    rules: [{condition: ok, next: COMPLETE}]
""",
        [
            "name: missing required key",
        ],
        [],
        id="nameless",
    ),
]


@pytest.mark.parametrize(("text", "errors", "warnings"), CASES)
def test_catalogue(text: str, errors: list[str], warnings: list[str]) -> None:
    report = PieceLibrary.builtin().validate_text(text)
    assert [str(p) for p in report.errors] == errors
    assert [str(p) for p in report.warnings] == warnings
    assert report.ok == (not errors)
