# ruff: noqa: E501  (exact messages read better unwrapped)
"""A catalogue of broken workflows and the exact problems validation reports for each.

Every workflow key legato reads has at least one case here; the messages speak the
file's own vocabulary (workflow, step) and locate each problem by its YAML path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import validate

OK_STEP = "  - name: a\n    rules: [{condition: done, next: COMPLETE}]\n"

CASES = [
    pytest.param(
        "name: t\n",
        ["steps: missing required key (a workflow needs at least one step)"],
        id="missing-steps",
    ),
    pytest.param(
        "name: t\nsteps: []\n",
        ["steps: must list at least one step"],
        id="empty-steps",
    ),
    pytest.param(
        "name: t\nmax_movements: 3\ninitial_movement: a\npiece_config: {}\nsteps:\n" + OK_STEP,
        [
            "max_movements: max_movements is TAKT 0.31's word; a workflow says max_steps",
            "initial_movement: initial_movement is TAKT 0.31's word; a workflow says initial_step",
            "piece_config: piece_config is TAKT 0.31's word; a workflow says workflow_config",
        ],
        id="renamed-keys",
    ),
    pytest.param(
        "name: t\nprovider: claude\nmodel: opus\nworkflow_config:\n  provider_options: {claude: {}}\n  runtime: {prepare: [node]}\nauto_routing: {}\nstep: []\nsteps:\n"
        + OK_STEP,
        [
            "provider: workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
            "model: workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
            "auto_routing: workflow YAML no longer accepts provider routing (TAKT moved it to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
            'step: unknown key (did you mean "steps"?)',
            "workflow_config.provider_options: workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
        ],
        id="runtime-settings",
    ),
    pytest.param(
        "name: t\nmax_steps: 0\ninitial_step: b\nsteps:\n" + OK_STEP,
        [
            'max_steps: expected a positive integer or "infinite", got integer 0',
            'initial_step: unknown step "b"',
        ],
        id="max-and-initial",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    provider: claude
    provider_options: {claude: {allowed_tools: [Read]}}
    allowed_tools: [Read]
    permission_mode: edit
    instruction_template: x
    arpeggio: {source: csv}
    required_permission_mode: root
    session: forever
    kind: robot
    tier: "bad tier"
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            "steps[0].provider: workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
            "steps[0].provider_options: workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
            "steps[0].allowed_tools: not accepted in a workflow (name a capability set: capabilities: edit)",
            "steps[0].permission_mode: not accepted in a workflow (use required_permission_mode)",
            "steps[0].instruction_template: removed in TAKT v0.60 (use instruction)",
            "steps[0].arpeggio: arpeggio is not supported by legato (no TAKT builtin workflow uses it; split the data into jobs instead)",
            'steps[0].kind: unknown step kind string "robot" (agent, system or workflow_call)',
            "steps[0].tier: invalid tier name \"bad tier\" (letters, digits, '_' and '-' only)",
            'steps[0].session: unknown session mode "forever" (continue, refresh or compact)',
            'steps[0].required_permission_mode: unknown permission mode "root" (one of readonly, edit, full)',
        ],
        id="step-refusals",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    rules:
      - {condition: 'ai("looks done")', next: COMPLETE}
      - {condition: 'all("x")', next: COMPLETE}
      - {condition: 'when(x == 1)', next: COMPLETE}
      - {condition: 'ok && when(companion.round.done)', next: COMPLETE}
      - {condition: 'x && y', next: COMPLETE}
      - {condition: done, next: nowhere}
      - {condition: done, next: COMPLETE, return: early}
      - {condition: fine, goto: COMPLETE}
      - {condition: bare}
""",
        [
            "steps[0].rules[0].condition: invalid condition: workflow rule conditions do not support ai()",
            "steps[0].rules[1].condition: aggregate conditions are only allowed on parallel steps with sub-steps (all()/any() join the outcomes of a parallel step's members)",
            'steps[0].rules[2].condition: invalid condition: unsupported when operand "x"',
            "steps[0].rules[3].condition: transition rules cannot read advisory companion state",
            "steps[0].rules[4].condition: invalid condition: invalid workflow rule condition: x && y",
            "steps[0].rules[6]: a rule cannot give both next and return",
            "steps[0].rules[7].goto: unknown key",
            'steps[0].rules[5].next: unknown step "nowhere"',
            "steps[0].rules[6].return: return is only allowed in a callable workflow (set subworkflow.callable: true)",
            "steps[0].rules[7]: a rule needs next (or return, in a callable workflow) (COMPLETE, ABORT or a step name)",
            "steps[0].rules[8]: a rule needs next (or return, in a callable workflow) (COMPLETE, ABORT or a step name)",
        ],
        id="rules",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    rules:
      - {condition: done, next: COMPLETE, appendix: "one"}
      - {condition: done && when(true), next: ABORT, appendix: "two"}
""",
        [
            'steps[0].rules[1].appendix: rules sharing the label "done" must use the same appendix (first given at steps[0].rules[0])',
        ],
        id="appendix-conflict",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    rules: [{condition: done, next: b}]
  - name: a
    rules: [{condition: done, next: COMPLETE}]
  - name: COMPLETE
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            'steps[1].name: duplicate step name "a" (first defined at steps[0])',
            'steps[2].name: "COMPLETE" is reserved for rule targets',
            'steps[0].rules[0].next: unknown step "b"',
        ],
        id="names",
    ),
    pytest.param(
        """\
name: t
capabilities: nothing-here
steps:
  - name: a
    capabilities: [look, 7]
    rules: [{condition: done, next: b}]
  - name: b
    kind: system
    capabilities: look
    rules: [{condition: when(true), next: COMPLETE}]
""",
        [
            'capabilities: unknown capabilities "nothing-here" (searched: {lib}/provider-options)',
            "steps[0].capabilities: expected a capability set name or a list of them, got a list",
            "steps[1].capabilities: not allowed on a system step",
        ],
        id="capabilities",
    ),
    pytest.param(
        """\
name: t
all_steps:
  rules:
    - missing-rule
    - {ref: house, position: after}
    - ../escape
steps:
"""
        + OK_STEP,
        [
            'all_steps.rules[0]: workflow-wide rule "missing-rule" was not found (searched: {lib}/workflows/rules)',
            'all_steps.rules[1].position: the only position is "before_instruction"',
            'all_steps.rules[2]: invalid workflow-wide rule reference "../escape" (a bare file name)',
        ],
        id="all-steps",
    ),
    pytest.param(
        """\
name: t
facet_pools:
  inline:
    candidates:
      - {id: x, description: needs a facet}
      - {id: y, description: unknown, policy: nowhere}
      - {id: y, description: twice, knowledge: domain}
      - {id: z, description: fine, knowledge: domain}
  external: {uses: no-such-pool}
  both: {uses: areas, candidates: []}
steps:
  - name: a
    dynamic_facets: {pool: missing, max_selected: 1}
    rules: [{condition: done, next: b}]
  - name: b
    dynamic_facets: {pool: inline, max_selected: 9}
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            'facet_pools.inline.candidates[0]: a facet pool candidate needs a "policy" or "knowledge"',
            'facet_pools.inline.candidates[1].policy: pool "inline" candidate "y" names unknown policy "nowhere" (pool facets must be files or section entries naming files)',
            'facet_pools.inline.candidates[2].id: candidate id "y" is used twice in this pool',
            'facet_pools.external.uses: facet pool "no-such-pool" was not found (searched: {lib}/facet-pools)',
            'facet_pools.both.candidates: "uses" cannot be combined with an inline pool',
            'steps[0].dynamic_facets.pool: unknown facet pool "missing"',
            'steps[1].dynamic_facets.max_selected: max_selected (9) exceeds the 1 candidates of pool "inline"',
        ],
        id="facet-pools",
    ),
    pytest.param(
        """\
name: t
schemas: {v: verdict}
steps:
  - name: a
    structured_output: {schema_ref: nope}
    delay_before_ms: -1
    quality_gates:
      - fine as text
      - {type: command}
      - {type: command, command: make, cwd: /etc}
      - {type: shell, command: ls}
    completion_retry: {min_retry: 5, max_retry: 2}
    rules: [{condition: done, next: b}]
  - name: b
    structured_output: {schema_ref: v}
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            "steps[0].quality_gates[1].command: missing required key",
            "steps[0].quality_gates[2].cwd: must be a relative path inside the job's workspace",
            "steps[0].quality_gates[3]: a quality gate is text or {type: command, command: ...}",
            'steps[0].structured_output.schema_ref: structured output schema "nope" was not found (searched {lib}/schemas)',
            "steps[0].delay_before_ms: must be at least 0, got -1",
            "steps[0].completion_retry.min_retry: must be at most 4, got 5",
            "steps[0].completion_retry.min_retry: must be less than or equal to max_retry",
            "steps[0].completion_retry.retry_instruction: missing required key",
        ],
        id="step-features",
    ),
]


@pytest.mark.parametrize(("text", "errors"), CASES)
def test_catalogue(tmp_path: Path, text: str, errors: list[str]) -> None:
    report = validate(tmp_path / "lib", text)
    lib = str(tmp_path / "lib")
    assert [str(p) for p in report.errors] == [e.replace("{lib}", lib) for e in errors]
