"""The pure parts of system steps and workflow state: templates, inputs, effects, rules."""

from __future__ import annotations

import pytest

from pieces import Movement, MovementSpec, Piece, Rule
from pieces.state import StateError, argument, instruction_text, merged, payload
from pieces.structured import followup_task, structured_result
from pieces.system_run import Effect, Facts, next_effect, resolve_input

STATE = merged(
    [
        ("look", {"context": {"pr": {"exists": False}, "prs": [{"number": 3}], "n": 2}}),
        ("plan", {"structured": {"action": "go", "task_markdown": "## Do"}}),
        ("plan", {"structured": {"action": "wait", "task_markdown": "## Later"}}),
    ]
)


def test_the_last_visit_of_a_step_wins():
    assert STATE["structured"]["plan"]["action"] == "wait"
    assert STATE["effect"] == {}


def test_instruction_placeholders_as_takt_fills_them():
    escape = lambda s: s.replace("{", "｛")  # noqa: E731
    text = "n={context:look.n} ok={context:look.pr.exists} prs={context:look.prs}"
    out = instruction_text(text, STATE, escape)
    assert out.startswith("n=2 ok=false prs=[\n  ｛")
    assert instruction_text("{structured:plan.action}", STATE, escape) == "wait"
    with pytest.raises(StateError, match="scalar"):
        instruction_text("{structured:plan}", STATE, escape)
    with pytest.raises(StateError, match=r'Missing workflow state value "context\.look\.nope"'):
        instruction_text("{context:look.nope}", STATE, escape)


def test_effect_arguments_keep_whole_references_typed():
    assert argument("{context:look.n}", STATE) == 2
    assert argument("PR {context:look.prs.0.number}!", STATE) == "PR 3!"
    assert payload({"type": "x", "pr": "{context:look.n}", "keep": {"a": "{b}"}}, STATE) == {
        "type": "x",
        "pr": 2,
        "keep": {"a": "{b}"},
    }


def test_inputs_without_a_forge():
    facts = Facts(task="do it", branch="main", queue={True: {"pending_count": 1}})
    assert resolve_input({"type": "task_context"}, facts) == {"exists": True, "body": "do it"}
    assert resolve_input({"type": "branch_context"}, facts) == {"exists": True, "name": "main"}
    assert resolve_input({"type": "pr_list"}, facts) == []
    assert resolve_input({"type": "issue_selection"}, facts) == {"exists": False}
    assert resolve_input({"type": "pr_context"}, facts) == {"exists": False, "branch": "main"}
    queue = {"type": "task_queue_context", "exclude_current_task": True}
    assert resolve_input(queue, facts) == {"pending_count": 1}
    assert resolve_input({"type": "task_context"}, Facts(task="")) == {"exists": False}


def _spec(**mv) -> MovementSpec:
    movement = Movement(name="sys", kind="system", **mv)
    piece = Piece(name="p", dialect="workflow", initial_movement="sys", movements=[movement])
    return MovementSpec(piece=piece, movement=movement, state=STATE)


def _when(index: int, expr: str, nxt: str) -> Rule:
    return Rule(index=index, condition=f"when({expr})", kind="when", when=expr, next=nxt)


def test_a_system_step_runs_its_effects_then_routes_on_them():
    spec = _spec(
        system_inputs=[{"type": "task_context", "source": "current_task", "as": "t"}],
        effects=[
            {"type": "enqueue_task", "mode": "new", "workflow": "w", "task": "{context:sys.t.body}"}
        ],
        rules=[
            _when(0, "effect.sys.enqueue_task.success == false", "ABORT"),
            _when(1, "effect.sys.enqueue_task.success == true", "COMPLETE"),
        ],
    )
    facts = Facts(task="do it")
    first = next_effect(spec, facts, {})
    assert first == Effect(
        "enqueue_task", {"type": "enqueue_task", "mode": "new", "workflow": "w", "task": "do it"}
    )
    out = next_effect(spec, facts, {"enqueue_task": {"success": True}})
    assert (out.status, out.rule_index, out.method) == ("done", 1, "auto_select")
    assert out.content == 'System step "sys" completed.'
    assert out.state == {
        "context": {"t": {"exists": True, "body": "do it"}},
        "effect": {"enqueue_task": {"success": True}},
    }


def test_a_forge_effect_that_is_reached_fails_the_step():
    spec = _spec(effects=[{"type": "merge_pr", "pr": 3}], rules=[_when(0, "true", "COMPLETE")])
    out = next_effect(spec, Facts(task="x"), {})
    assert out.status == "error" and out.abort_kind == "runtime_error"
    assert "merge_pr" in out.failure and "no GitHub/GitLab integration" in out.failure


def test_missing_state_fails_the_step_as_takt_does():
    spec = _spec(rules=[_when(0, "context.sys.nothing == 1", "COMPLETE")])
    out = next_effect(spec, Facts(task="x"), {})
    assert out.status == "error"
    assert 'Missing workflow state value "context.sys.nothing"' in out.failure


def test_followup_task_renders_its_markdown_and_checks_its_counts():
    value = {
        "action": "enqueue_new_task",
        "title": "T",
        "summary": "S",
        "goals": ["g"],
        "acceptance_criteria": ["a", "b"],
        "labels": ["x"],
        "issue": {"create": False},
    }
    out = followup_task("plan_from_issue", value)
    assert (
        out["task_markdown"]
        == "## Summary\nS\n\n## Goals\n- g\n\n## Acceptance Criteria\n- [ ] a\n- [ ] b"
    )
    assert out["issue"] == {"create": False, "title": "T", "labels": ["x"]}
    with pytest.raises(ValueError, match=r"issue\.create to be true"):
        followup_task("plan_fresh_improvement", value)
    with pytest.raises(ValueError, match="two acceptance criteria"):
        followup_task("x", {**value, "acceptance_criteria": ["a"]})


def test_structured_output_is_validated_against_its_schema():
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    mv = Movement(name="s", structured_output=schema)
    assert structured_result(mv, '{"ok": true}', None) == ({"ok": True}, None)
    value, why = structured_result(mv, "not json", None)
    assert value is None and why == (
        'Step "s" requires structured_output: Structured output response is missing'
    )
    assert "at ok" in structured_result(mv, '{"ok": 1}', None)[1]
