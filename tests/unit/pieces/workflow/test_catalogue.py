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
    pytest.param(
        """\
name: t
steps:
  - name: a
    companion:
      fixed: [watcher, stranger]
      pool: []
      moderator: watcher
    rules: [{condition: done, next: b}]
  - name: b
    companion: []
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            "steps[0].companion.moderator: the moderator cannot also be a fixed or pool reviewer",
            'steps[0].companion.fixed: unknown companion "stranger" (searched: {lib}/companions)',
            "steps[1].companion: list at least one companion",
        ],
        id="companions",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    kind: system
    persona: coder
    system_inputs:
      - {type: task_context, source: current_task, as: t}
      - {type: task_context, source: elsewhere, as: t}
      - {type: weather, as: w}
    effects:
      - {type: merge_pr, pr: "{context:a.t.number}"}
      - {type: merge_pr, pr: 3}
      - {type: enqueue_task, mode: new, workflow: w, task: x, pr: 4}
      - {type: comment_pr, pr: nope, body: hi}
    rules: [{condition: when(true), next: COMPLETE}]
  - name: b
    effects: []
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            'steps[0].persona: a system step does not allow "persona"',
            'steps[0].system_inputs[1].source: task_context reads source "current_task"',
            'steps[0].system_inputs[1].as: system input binding "t" is used twice in this step',
            'steps[0].system_inputs[2].type: unknown system input "weather"',
            'steps[0].effects[1].type: effect "merge_pr" is used twice in this step',
            'steps[0].effects[2].pr: enqueue_task mode "new" does not allow "pr"',
            'steps[0].effects[3].pr: expected a PR number or a {context:…} reference, got string "nope"',
            'steps[1].mode: steps with "system_inputs" or "effects" must set kind: system',
        ],
        id="system-steps",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    parallel:
      - name: x
        description: a member
        delay_before_ms: 5
        requires_user_input: true
        rules:
          - {condition: 'any("ok")'}
          - {condition: ok, return: up}
          - {condition: ok, next: somewhere}
      - name: x
        rules: [{condition: ok}]
    rules:
      - {condition: 'all("ok", "ok", "ok")', next: COMPLETE}
      - {condition: 'all("nope")', next: COMPLETE}
  - name: b
    parallel: []
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            "steps[0].parallel[0].requires_user_input: not allowed on a parallel sub-step",
            "steps[0].parallel[0].delay_before_ms: not allowed on a parallel sub-step",
            "steps[0].parallel[0].description: not allowed on a parallel sub-step (only dynamic pool members carry a description)",
            "steps[0].parallel[0].rules[0].condition: parallel sub-step rules do not allow aggregate conditions (all()/any() join the outcomes of a parallel step's members)",
            "steps[0].parallel[0].rules[1].return: parallel sub-step rules do not allow return",
            "steps[1].parallel: must list at least one sub-step",
            'steps[0].parallel[1].name: parallel step "a" contains duplicate sub-step name "x" (first defined at steps[0].parallel[0])',
        ],
        id="parallel",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    parallel:
      fixed:
        - name: f
          rules: [{condition: approved}]
      pool:
        - name: p
          rules: [{condition: fine}]
        - name: q
          call: callee
      selection: {mode: sometimes, selector: {persona: judge}}
    rules:
      - {condition: 'all("approved")', next: COMPLETE}
      - {condition: 'any("approved", "fine")', next: COMPLETE}
  - name: b
    parallel: {fixed: []}
    rules: [{condition: 'any("x")', next: COMPLETE}]
""",
        [
            "steps[0].parallel.pool[0].description: a pool member needs a description for the selector",
            "steps[0].parallel.pool[1]: a dynamic parallel member must be a normal agent step",
            'steps[0].parallel.selection.mode: selection mode is "replace" or "cumulative"',
            "steps[0].parallel.selection.selector.instruction: missing required key",
            "steps[1].parallel.pool: a dynamic parallel step needs at least one pool sub-step",
            'steps[0].parallel.pool[0].rules: dynamic parallel step "a" needs sub-step "p" to define the result label "approved"',
            'steps[0].parallel.pool[1].rules: dynamic parallel step "a" needs sub-step "q" to define the result label "approved"',
            "steps[0].rules[1].condition: a dynamic parallel aggregate names exactly one bare result label",
        ],
        id="dynamic-parallel",
    ),
    pytest.param(
        """\
name: t
loop_monitors:
  - cycle: [a]
    ignore_steps: [a, ghost]
    judge:
      provider: claude
      session_key: k
      rules: [{condition: 'any("x")', next: a}, {condition: stop, next: nowhere}]
  - cycle: [a, b]
steps:
  - name: a
    rules: [{condition: done, next: b}]
  - name: b
    rules: [{condition: done, next: COMPLETE}]
""",
        [
            "loop_monitors[0].cycle: must name at least two steps",
            'loop_monitors[0].ignore_steps[0]: ignored step "a" cannot also be part of the monitored cycle',
            "loop_monitors[0].judge.provider: workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml) (legato picks the model by tier: set `tier:` on the step, or the job's tier; tool sets come from `capabilities:`)",
            "loop_monitors[0].judge.session_key: loop judges always run in a fresh conversation",
            "loop_monitors[0].judge.rules[0].condition: aggregate conditions are only allowed on parallel steps with sub-steps (all()/any() join the outcomes of a parallel step's members)",
            "loop_monitors[1].judge: missing required key (a loop monitor needs a judge with rules)",
            'loop_monitors[0].ignore_steps[1]: unknown step "ghost"',
            'loop_monitors[0].judge.rules[1].next: unknown step "nowhere"',
        ],
        id="loop-monitors",
    ),
    pytest.param(
        """\
name: t
subworkflow:
  returns: [done]
  params: {}
steps:
"""
        + OK_STEP,
        [
            "subworkflow.returns: subworkflow.returns requires callable: true",
            "subworkflow.params: subworkflow.params requires callable: true",
        ],
        id="subworkflow-not-callable",
    ),
    pytest.param(
        """\
name: t
subworkflow:
  callable: true
  visibility: public
  returns: [COMPLETE, 'all("x")', fine]
  params:
    a: {type: facet_ref}
    b: {type: "facet_ref[]", facet_kind: policy, default: tidy}
    c: {type: workflow_ref, facet_kind: policy}
    d: {type: number}
    e: {type: facet_ref, facet_kind: policy}
steps:
  - name: a
    policy: {$param: e}
    rules:
      - {condition: ok, return: fine}
      - {condition: meh, return: other}
""",
        [
            'subworkflow.visibility: the only visibility is "internal"',
            'subworkflow.returns[0]: subworkflow.returns must not include the reserved result "COMPLETE"',
            'subworkflow.returns[1]: subworkflow.returns must be plain result labels: "all("x")"',
            "subworkflow.params.a.facet_kind: needs a facet_kind (one of policy, knowledge, instruction, persona, report_format)",
            "subworkflow.params.b.default: facet_ref[] parameters need a list default",
            "subworkflow.params.c.facet_kind: not allowed on a workflow_ref parameter",
            "subworkflow.params.d.type: unknown parameter type (one of facet_ref, facet_ref[], workflow_ref, facet_pool_ref, companion_ref[])",
            'steps[0].policy: step "a" requires workflow_call arg "e" for policy (the parameter has no default)',
            'steps[0].rules[1].return: returns undeclared value "other" (declare it in subworkflow.returns)',
        ],
        id="subworkflow-params",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    persona: {$param: who}
    rules: [{condition: done, next: COMPLETE}]
""",
        ['steps[0].persona: step "a" cannot use $param in persona outside a callable workflow'],
        id="param-outside-callable",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    kind: workflow_call
    call: callee
    persona: coder
    capabilities: look
    args: {how: nowhere-instruction, extra: x, bad: 5}
    vars: {"9lives": x, review_mode: sometimes, fine: [1]}
    rules:
      - {condition: COMPLETE, next: COMPLETE}
      - {condition: when(true), next: ABORT}
  - name: b
    call: nothing-by-this-name
    rules: [{condition: COMPLETE, next: COMPLETE}]
  - name: c
    instruction: x
    call: callee
    args: {}
    rules:
      - {condition: redo, next: a}
      - {condition: shrug, next: COMPLETE}
""",
        [
            "steps[0].capabilities: not allowed on a workflow_call step",
            'steps[0].persona: a workflow_call step does not allow "persona"',
            "steps[0].args.bad: expected a name, a list of names or a companion selection, got integer 5",
            "steps[0].vars.9lives: a var name is a letter or _ followed by letters, digits, _ . or -",
            "steps[0].vars.review_mode: review_mode must be one of: initial, follow_up",
            "steps[0].vars.fine: expected text, a number or true/false, got a list",
            "steps[0].rules[1].condition: workflow_call rules only allow COMPLETE, ABORT or a label the callee returns",
            'steps[2].instruction: a workflow_call step does not allow "instruction"',
            'steps[0].args.how: workflow_call arg "how" names unknown instruction facet "nowhere-instruction"',
            'steps[0].args.extra: workflow_call arg "extra" is not declared by workflow "callee"',
            'steps[1].call: unknown workflow "nothing-by-this-name"',
            'steps[2].rules[1].condition: workflow_call step "c" cannot route on unsupported child result "shrug" (one of: COMPLETE, ABORT, redo)',
        ],
        id="workflow-call",
    ),
    pytest.param(
        """\
name: t
steps:
  - name: a
    uses: builder
    with: {extra_policy: tidy, nope: 1}
    rules: [{condition: done, next: b}]
  - name: b
    uses: builder
    rules: [{condition: done, next: c}]
  - name: c
    uses: pair
    rules: [{condition: done, next: COMPLETE}]
  - name: d
    uses: absent
    rules: [{condition: done, next: COMPLETE}]
  - name: e
    uses: builder
    with: {extra_policy: [], how: check}
""",
        [
            'steps[0].with.nope: unknown fragment param "nope"',
            'steps[1].with.extra_policy: missing required fragment param "extra_policy"',
            'steps[2].rules: step fragment "pair" is a parallel step, so rules must be a tree {self: [...], parallel: {<member>: [...]}}',
            'steps[3].uses: step fragment "absent" was not found (searched: {lib}/steps)',
            'steps[4].rules: a step using fragment "builder" must define a non-empty rules list',
        ],
        id="fragments",
    ),
]


@pytest.mark.parametrize(("text", "errors"), CASES)
def test_catalogue(tmp_path: Path, text: str, errors: list[str]) -> None:
    report = validate(tmp_path / "lib", text)
    lib = str(tmp_path / "lib")
    assert [str(p) for p in report.errors] == [e.replace("{lib}", lib) for e in errors]
