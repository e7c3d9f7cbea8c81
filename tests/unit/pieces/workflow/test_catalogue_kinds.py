# ruff: noqa: E501  (exact messages read better unwrapped)
"""The catalogue continued: step kinds, parallel steps, loop monitors, callable
workflows, calls and fragments (see test_catalogue.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import validate

FORGE = (
    "acts on a pull request; legato has no GitHub/GitLab integration (legato accepts it "
    "only on a step reached solely through when(...) routes, and fails the step if a run "
    "gets there)"
)
OK_STEP = "  - name: a\n    rules: [{condition: done, next: COMPLETE}]\n"

CASES = [
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
            f"steps[0].effects[0].type: effect merge_pr {FORGE}",
            f"steps[0].effects[1].type: effect merge_pr {FORGE}",
            f"steps[0].effects[3].type: effect comment_pr {FORGE}",
            'steps[0].effects[2].workflow: unknown workflow "w"',
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
