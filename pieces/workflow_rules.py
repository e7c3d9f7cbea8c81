"""Choosing a step's rule in the workflow dialect (TAKT v0.60; SEMANTICS.md §3.4, §4, §8).

The order, for a step that finished ``done``:

1. The rules before the first semantic-label rule (``when(…)`` conditions, aggregates)
   are tried in YAML order; the first that holds wins and no judge runs. A step with
   no label rule is decided entirely this way.
2. Otherwise a label is selected: with two or more distinct labels Phase 3 asks the
   conductor (structured output, then a status tag, then an AI judge); with one it is
   taken without a call (``auto_select``).
3. All rules are then tried in YAML order and the first that holds wins: a label rule
   holds when its label is the selected one, ``when(…)`` when its expression is true,
   an aggregate over the sub-steps' outcomes, ``label && when(…)`` when both do.
   Interactive-only rules are skipped when no one is at hand.
4. Nothing holds: the run aborts with TAKT's reason ``rule_no_match``. A when()
   expression reading state nobody produced aborts with the evaluator's message.

A parallel parent first looks at its sub-steps: any failed sub-step fails the parent
unless a rule aggregates on the label ``error`` (a failed sub-step counts as having
matched ``error``). The parent then runs the same evaluation, judging its aggregated
output. These functions are pure: the answers so far in, the next call or outcome out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pieces.aggregate import ERROR_LABEL, aggregated_output
from pieces.exchange import Answer, Call
from pieces.exchange import find as _find
from pieces.gates import parallel_failure
from pieces.judgment import (
    CONDUCTOR,
    EVALUATION_SCHEMA,
    JUDGMENT_SCHEMA,
    Candidate,
    candidates,
    judge_prompt,
    judged_content,
    phase3_prompt,
    structured_value,
)
from pieces.model import Movement, Rule
from pieces.spec import (
    JUDGE_AI,
    JUDGE_STRUCTURED,
    JUDGE_TAG,
    MovementSpec,
    Outcome,
    SubResult,
    failed_execution,
    judge_number,
)
from pieces.tags import detect_tag
from pieces.workflow.conditions import canonical, parse_condition, semantic_label
from pieces.workflow.when import WhenError, evaluate_when

RULE_NO_MATCH = "rule_no_match"  # TAKT's abort reason (and kind) when no rule holds
# TAKT lets a parallel step route on failed sub-steps at most this many times in a row;
# counting visits is the engine's business, the limit is TAKT's.
MAX_EXPLICIT_PARALLEL_ERROR_RETRIES = 3

Selection = tuple[str, str]  # (label, method)


def _visible(rule: Rule, interactive: bool) -> bool:
    return interactive or not rule.interactive_only


def _first_label_rule(movement: Movement, interactive: bool) -> int:
    for rule in movement.rules:
        if _visible(rule, interactive) and rule.kind in ("label", "label_when"):
            return rule.index
    return -1


class _Rules:
    """Rule evaluation for one step run: the state when() reads, the sub-steps' outcomes."""

    def __init__(
        self,
        spec: MovementSpec,
        outcomes: dict[str, str | None] | None = None,
        participants: Sequence[str] = (),
    ) -> None:
        self.spec = spec
        self.outcomes = outcomes or {}
        self.participants = list(participants)

    def first_match(
        self, rules: Sequence[Rule], selection: Selection | None
    ) -> tuple[int, str] | None:
        for rule in rules:
            if not _visible(rule, self.spec.interactive):
                continue
            method = self.method(rule, selection)
            if method is not None:
                return rule.index, method
        return None

    def method(self, rule: Rule, selection: Selection | None) -> str | None:
        if rule.kind in ("label", "label_when"):
            if selection is None or selection[0] != rule.label:
                return None
            found = selection[1]
        elif rule.kind == "when":
            found = "auto_select"
        elif rule.kind in ("all", "any"):
            found = "aggregate" if self.aggregate_holds(rule) else None
            if found is None:
                return None
        else:  # ai() is refused when a workflow is loaded
            return None
        if rule.when is not None and not evaluate_when(rule.when, self.spec.state):
            return None
        return found

    def aggregate_holds(self, rule: Rule) -> bool:
        names = self.participants
        if not names or not rule.args:
            return False
        got = [self.outcomes.get(name) for name in names]
        if self.spec.movement.dynamic is not None:
            target = rule.args[0]
            labels = [_label_of(o) for o in got]
            if rule.kind == "all":
                return all(label == target for label in labels)
            return any(label == target for label in labels)
        if rule.kind == "any":
            return any(o is not None and o in rule.args for o in got)
        if len(rule.args) == 1:
            return all(o is not None and o == rule.args[0] for o in got)
        return len(rule.args) == len(got) and all(
            o is not None and o == want for o, want in zip(got, rule.args, strict=True)
        )


def _label_of(outcome: str | None) -> str | None:
    if outcome is None:
        return None
    try:
        return semantic_label(parse_condition(outcome))
    except ValueError:
        return outcome


def _phase3(
    spec: MovementSpec, answers: Sequence[Answer], cands: list[Candidate], content: str
) -> Selection | Call | None:
    """Structured output, then a status tag, then the AI judge; a label or None."""
    movement = spec.movement
    structured_prompt = phase3_prompt(movement, cands, content, structured=True)

    def pick(number: int | None) -> str | None:
        if number is None or not 1 <= number <= len(cands):
            return None
        return cands[number - 1].label

    stage = _find(answers, JUDGE_STRUCTURED)
    if stage is None:
        return Call(
            JUDGE_STRUCTURED,
            3,
            structured_prompt,
            system=CONDUCTOR,
            schema=JUDGMENT_SCHEMA,
            allow_empty=True,
            judge=True,
        )
    if stage.status == "done":
        label = pick(structured_value(stage.content, stage.structured, "step"))
        if label is not None:
            return label, "structured_output"
    stage = _find(answers, JUDGE_TAG)
    if stage is None:
        prompt = phase3_prompt(movement, cands, content, structured=False)
        return Call(JUDGE_TAG, 3, prompt, system=CONDUCTOR, allow_empty=True, judge=True)
    if stage.status == "done":
        label = pick(detect_tag(stage.content, movement.name) + 1)
        if label is not None:
            return label, "phase3_tag"
    stage = _find(answers, JUDGE_AI)
    if stage is None:
        prompt = judge_prompt(structured_prompt, [(c.number, c.text) for c in cands])
        return Call(JUDGE_AI, 3, prompt, schema=EVALUATION_SCHEMA, allow_empty=True, judge=True)
    label = pick(judge_number(stage))
    return (label, "ai_judge") if label is not None else None


def _evaluate(
    spec: MovementSpec,
    answers: Sequence[Answer],
    output: str,
    reports: dict[str, str],
    rules: _Rules,
) -> Call | Outcome:
    movement, piece = spec.movement, spec.piece

    def done(found: tuple[int, str]) -> Outcome:
        return Outcome("done", output, found[0], found[1], reports)

    def fail(message: str) -> Outcome:
        return Outcome("error", output, failure=failed_execution(piece, message), reports=reports)

    no_match = Outcome("error", output, failure=RULE_NO_MATCH, reports=reports)
    try:
        first = _first_label_rule(movement, spec.interactive)
        if first < 0:
            found = rules.first_match(movement.rules, None)
            return done(found) if found else no_match
        found = rules.first_match(movement.rules[:first], None)
        if found:
            return done(found)
        cands = candidates(piece, movement, spec.interactive)
        if len(cands) >= 2:
            content, _ = judged_content(movement, {**spec.earlier_reports, **reports}, output)
            if content is None and output:
                content = f"\n## Agent Response\n\n{output}"
            if content is None:
                return fail(
                    f'Status judgment requires report or lastResponse for step "{movement.name}"'
                )
            selection = _phase3(spec, answers, cands, content)
            if isinstance(selection, Call):
                return selection
            if selection is None:
                return no_match
        else:
            selection = (cands[0].label or cands[0].text, "auto_select")
        found = rules.first_match(movement.rules, selection)
        return done(found) if found else no_match
    except WhenError as exc:
        return fail(str(exc))


def judge_workflow(
    spec: MovementSpec,
    answers: Sequence[Answer],
    phase1: str,
    reports: dict[str, str],
    cands: list[Candidate],
) -> Call | Outcome:
    """The rule of a step that finished ``done`` (``cands`` as judgment.candidates gives)."""
    del cands  # recomputed where needed: the deterministic rules come first
    return _evaluate(spec, answers, phase1, reports, _Rules(spec))


def _diagnostic(sub: SubResult) -> str:
    return "\n".join(
        ["[ERROR]", "status: error", "failureCategory: none", f"detail: {sub.error or sub.content}"]
    )


def routes_errors(movement: Movement) -> bool:
    """Whether a rule aggregates on the label ``error``, so failed sub-steps are routed."""
    for rule in movement.rules:
        if rule.kind in ("all", "any") and any(_label_of(a) == ERROR_LABEL for a in rule.args):
            return True
    return False


def participants(movement: Movement, subs: Sequence[SubResult]) -> list[str]:
    """Who took part, in declaration order: every member of a static parallel step, the
    members that ran of a dynamic one (fixed plus the selected pool)."""
    if movement.dynamic is None:
        return [m.name for m in movement.parallel]
    ran = {s.name for s in subs}
    return [m.name for m in movement.parallel if m.name in ran]


def judge_workflow_parallel(
    spec: MovementSpec, answers: Sequence[Answer], content: str
) -> Call | Outcome:
    """A parallel parent after its sub-steps (``content`` is recomputed with diagnostics).

    TAKT's order (ParallelRunner): a failed member aborts the step unless a rule routes
    ``"error"``, and such routing may happen at most MAX_EXPLICIT_PARALLEL_ERROR_RETRIES
    visits in a row; then a member's failed quality gate re-runs the whole step; then
    the rules."""
    movement, piece = spec.movement, spec.piece
    subs = spec.sub_results
    del content
    output = aggregated_output(
        [(s.name, _diagnostic(s) if s.error is not None else s.content) for s in subs]
    )
    failed = [s for s in subs if s.error is not None]
    step = piece.words[1].capitalize()
    if failed and not routes_errors(movement):
        return Outcome(
            "error",
            output,
            failure=f'{step} "{movement.name}" failed: {failed[0].error}',
            abort_kind="runtime_error",
        )
    if failed and spec.error_streak >= MAX_EXPLICIT_PARALLEL_ERROR_RETRIES:
        return Outcome(
            "error",
            output,
            failure=f'Parallel {piece.words[1]} "{movement.name}" exceeded its explicit error '
            f"retry limit ({MAX_EXPLICIT_PARALLEL_ERROR_RETRIES})",
            abort_kind="runtime_error",
        )
    gate = next((s for s in subs if s.gate_failed), None)
    if gate is not None:
        report = parallel_failure(gate.name, gate.content)
        return Outcome("done", report, method="quality_gate", gate_failed=True)
    if not movement.rules:
        return Outcome("done", output)
    outcomes: dict[str, Any] = {
        s.name: ERROR_LABEL
        if s.error is not None
        else (canonical(s.condition) if s.condition else None)
        for s in subs
    }
    names = participants(movement, subs) if spec.participants is None else spec.participants
    rules = _Rules(spec, outcomes, names)
    return _evaluate(spec, answers, output, {}, rules)


def call_result_rule(movement: Movement, result: str, interactive: bool = False) -> int | None:
    """The rule a workflow_call step takes for its callee's result.

    ``result`` is ``COMPLETE``, ``ABORT`` or the label the callee returned; the first
    visible rule whose condition is that label wins. None means TAKT's ``rule_no_match``.
    """
    for rule in movement.rules:
        if _visible(rule, interactive) and rule.kind == "label" and rule.label == result:
            return rule.index
    return None
