"""A pure walk through a piece with a scripted model, over the engine's own functions.

No copy of the engine's rules lives here: each movement visit runs
`pieces.program.next_step` until it yields an outcome (the scripted model answers each
call), `pieces.routing.route` decides where to go, and the loop history is
`pieces.loops.history_of` over the runs so far, exactly as the worker derives them.
What the walk adds is only what the database, the queues and the worker's local
actions do for the engine: numbering iterations, running a parallel movement's members
(all of them, or the ones its `Fanout` names) between its two visits, feeding user
inputs, and answering local calls (quality gates, workspace looks) from the script.
A workflow_call step walks its called workflow (`pieces.call_run.called_piece`) from
the shared counter, the way the worker's child job runs it, and its end becomes the
step's outcome (`pieces.call_run.call_outcome`). A system step runs
`pieces.system_run.next_effect` over facts the walk is given (`facts`, default: an idle
queue, no branch) and effect results the script gives (`effects`, default: success),
as the worker's transaction does; the workflow state each visit sees is
`pieces.state.merged` over the completed runs so far, as the claim reads it. (Team
leaders are covered end to end only.)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pieces import (
    Answer,
    Call,
    MovementSpec,
    Outcome,
    Piece,
    PromptContext,
    SubResult,
    next_step,
    phase1_prompt,
    route,
)
from pieces.call_run import ChildEnd, call_outcome, called_piece, over_budget
from pieces.dynamic import Fanout
from pieces.facet_select import FACET_SELECT
from pieces.loops import history_of, judge_movement, judge_name
from pieces.routing import max_reason
from pieces.state import StateError, merged
from pieces.system_run import Effect, Facts, next_effect
from tests.piece_suite.scripted import ScriptedModel

# (movement, run id, call) -> the reply text, a full Answer, or None (the script's default)
Responder = Callable[[str, str, Call], "str | Answer | None"]
IDLE = {
    "exists": False,
    "total_count": 0,
    **{f"{k}_count": 0 for k in ("pending", "running", "completed", "failed", "exceeded")},
    "pr_failed_count": 0,
    "items": [],
}


@dataclass
class Walk:
    path: list[str] = field(default_factory=list)
    methods: list[str | None] = field(default_factory=list)
    sub_methods: dict[str, list[str | None]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    reports: set[str] = field(default_factory=set)
    end: str = ""
    waits: int = 0
    members: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # per visit
    outputs: list[str] = field(default_factory=list)  # each top-level run's output
    named: list[tuple[str, str, str | None]] = field(default_factory=list)  # movement, kind, name
    # Workflow calls: each called workflow as (workflow, path, end), in the order they
    # ended (nested ones first); how this walk ended, for its caller.
    called: list[tuple[str, list[str], str]] = field(default_factory=list)
    used: int = 0  # the shared step counter at the end
    iterations: list[int] = field(default_factory=list)  # each top-level run's iteration
    effects: list[tuple[str, str, dict]] = field(default_factory=list)  # step, type, args
    returned: str | None = None
    abort_kind: str | None = None
    reason: str | None = None


def _structured(call: Call, text: str) -> Any:
    if call.schema is None or not text.strip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _default_local(call: Call) -> Answer:
    local = call.local or {}
    if local.get("type") == "git_baseline":
        return Answer(kind=call.kind, name=call.name, content="baseline")
    if local.get("type") == "git_diff":
        return Answer(kind=call.kind, name=call.name, structured={"available": False})
    return Answer(kind=call.kind, name=call.name, content="passed")  # a gate


class _Visit:
    def __init__(self, model: ScriptedModel, respond: Responder | None, walk: Walk) -> None:
        self.model, self.respond, self.walk = model, respond, walk

    def answer(self, movement: str, run_id: str, call: Call) -> Answer:
        self.walk.calls[call.kind] += 1
        self.walk.named.append((movement, call.kind, call.name))
        got = self.respond(movement, run_id, call) if self.respond else None
        if isinstance(got, Answer):
            return got
        if got is None and call.local is not None:
            return _default_local(call)
        text = got if got is not None else (self.model.reply(movement, run_id, call.kind) or "")
        return Answer(
            kind=call.kind, name=call.name, content=text, structured=_structured(call, text)
        )

    def run(self, spec: MovementSpec, run_id: str, answers: list[Answer]) -> Outcome | Fanout:
        step = next_step(spec, answers)
        while isinstance(step, Call):
            answers.append(self.answer(spec.movement.name, run_id, step))
            step = next_step(spec, answers)
        return step


def simulate(
    piece: Piece,
    script: dict[str, list[str]],
    *,
    interactive: bool = False,
    limit: int = 100,
    respond: Responder | None = None,
    companions: bool = False,
    companion_rounds: int = 3,
    start: int = 0,
    facts: Callable[[Walk], Facts] | None = None,
    effects: Callable[[str, Effect], dict] | None = None,
    _visit: _Visit | None = None,
    _ids=None,
) -> Walk:
    model = ScriptedModel(dict(script))
    walk = Walk()
    visit = _visit or _Visit(model, respond, walk)
    runs: list[tuple[str, str, str | None]] = []
    name, kind, judge = piece.initial_movement, "agent", None
    iteration, ids = start, _ids or iter(range(1, 10_000))
    guard = 0
    if over_budget(piece, start):
        walk.end, walk.used = f"ABORT: {max_reason(piece)}", start
        walk.reason, walk.abort_kind = max_reason(piece), "iteration_limit"
        return walk

    def call(movement, before: int) -> tuple[Outcome, int]:
        """Walk the called workflow from `before` steps used; its outcome and counter."""
        child = called_piece(piece, movement)
        inner = simulate(
            child,
            script,
            interactive=interactive,
            limit=limit,
            respond=respond,
            companions=companions,
            companion_rounds=companion_rounds,
            start=before,
            facts=facts,
            effects=effects,
            _visit=visit,
            _ids=ids,
        )
        walk.called.extend(inner.called)
        walk.called.append((child.name, inner.path, inner.end))
        status = "succeeded" if inner.end == "COMPLETE" else "failed"
        end = ChildEnd(
            status,
            returned=inner.returned,
            last_output=inner.outputs[-1] if inner.outputs else None,
            reason=inner.reason,
            abort_kind=inner.abort_kind,
            steps_used=inner.used,
        )
        return call_outcome(movement, end, interactive), max(before, inner.used)

    inputs: list[str] = []
    previous_output: str | None = None
    selections: dict[str, dict] = {}  # the last selection of each step (this attempt)
    streaks: Counter = Counter()  # parallel step -> visits in a row with failed members
    counts: Counter = Counter()  # movement iterations
    written: dict[str, str] = {}  # the reports of this attempt so far
    completed: list[tuple[str, dict | None]] = []  # (step, state contribution) in order

    def done(movement, out: Outcome) -> None:
        if out.status != "error" and out.state is not None:
            completed.append((movement.name, out.state))

    def system(movement, spec: MovementSpec) -> Outcome:
        given = facts(walk) if facts else Facts(task="scripted", queue={False: IDLE, True: IDLE})
        results: dict[str, dict] = {}
        step = next_effect(spec, given, results)
        while isinstance(step, Effect):
            walk.effects.append((movement.name, step.type, step.payload))
            got = effects(movement.name, step) if effects else None
            results[step.type] = got if got is not None else {"success": True, "failed": False}
            step = next_effect(spec, given, results)
        return step

    def spec_for(movement, ctx: PromptContext, **extra) -> MovementSpec:
        counts[movement.name] += 1
        state = merged(completed)
        ctx = ctx.model_copy(update={"movement_iteration": counts[movement.name], "state": state})
        prompt, prompt_error = "", None
        if movement.kind not in ("parallel", "system"):
            try:
                prompt = phase1_prompt(piece, movement, ctx)
            except StateError as exc:  # as the worker's spec_for does
                prompt_error = str(exc)
        return MovementSpec(
            piece=piece,
            movement=movement,
            phase1_prompt=prompt,
            prompt_error=prompt_error,
            state=state,
            interactive=ctx.interactive,
            movement_iteration=ctx.movement_iteration,
            task=ctx.task,
            context=ctx,
            companions=companions,
            companion_rounds=companion_rounds,
            previous_selection=selections.get(movement.name),
            earlier_reports=dict(written),
            **extra,
        )

    def remember_facets(movement, answers: list[Answer]) -> None:
        chosen = next((a for a in answers if a.kind == FACET_SELECT), None)
        if chosen is not None and isinstance(chosen.structured, dict):
            selections[movement.name] = chosen.structured

    while guard < limit:
        guard += 1
        current = piece.movement(name) if kind != "loop_judge" else None
        if current is None or current.kind != "workflow_call":
            iteration += 1
        ctx = PromptContext(
            task="scripted",
            iteration=iteration,
            user_inputs=inputs,
            interactive=interactive,
            previous_response=previous_output,
        )
        if kind == "loop_judge":
            monitor, count, _ = judge
            movement = judge_movement(piece, monitor, count)
        else:
            movement = piece.movement(name)
        answers: list[Answer] = []
        run_id = f"run-{next(ids)}"
        # A call run carries the iteration its called workflow's first step takes.
        walk.iterations.append(iteration + 1 if movement.kind == "workflow_call" else iteration)
        if movement.kind == "workflow_call":
            outcome, iteration = call(movement, iteration)
        elif movement.kind == "parallel":
            spec = spec_for(movement, ctx, error_streak=streaks[movement.name])
            fanout = visit.run(spec, run_id, answers)
            if isinstance(fanout, Fanout):
                walk.members.append((movement.name, fanout.members))
                if movement.dynamic is not None:
                    selections[movement.name] = {
                        "selected": list(fanout.selected),
                        "rationale": fanout.rationale,
                    }
                results = []
                sub_ctx = ctx.model_copy(update={"previous_response": None})
                furthest = iteration
                for sub in [m for m in movement.parallel if m.name in fanout.members]:
                    sub_answers: list[Answer] = []
                    if sub.kind == "workflow_call":
                        out, used = call(sub, iteration)
                        furthest = max(furthest, used)
                    else:
                        sub_spec = spec_for(sub, sub_ctx)
                        out = visit.run(sub_spec, f"run-{next(ids)}", sub_answers)
                    remember_facets(sub, sub_answers)
                    assert isinstance(out, Outcome)
                    done(sub, out)
                    rule = sub.rules[out.rule_index] if out.rule_index is not None else None
                    walk.sub_methods.setdefault(sub.name, []).append(out.method)
                    error = out.failure if out.status == "error" else None
                    results.append(
                        SubResult(
                            sub.name,
                            out.content,
                            rule.condition if rule else None,
                            error,
                            gate_failed=out.gate_failed,
                        )
                    )
                failed = any(r.error is not None for r in results)
                spec = replace(spec, participants=fanout.members, sub_results=tuple(results))
                outcome = visit.run(spec, run_id, answers)
                streaks[movement.name] = streaks[movement.name] + 1 if failed else 0
                iteration = furthest
            else:
                outcome = fanout
        elif movement.kind == "system":
            outcome = system(movement, spec_for(movement, ctx))
        else:
            outcome = visit.run(spec_for(movement, ctx), run_id, answers)
            remember_facets(movement, answers)
        assert isinstance(outcome, Outcome)
        done(movement, outcome)
        walk.path.append(movement.name)
        walk.methods.append(outcome.method)
        walk.outputs.append(outcome.content)
        previous_output = outcome.content
        if outcome.status == "done":
            walk.reports |= set(outcome.reports)
            written.update(outcome.reports)
        decided = route(
            piece,
            movement,
            outcome,
            iteration=iteration,
            history=history_of(runs),
            loop_judge=kind == "loop_judge",
            natural_next=judge[2] if judge else None,
        )
        runs.append((movement.name, kind, decided.kind))
        walk.used = iteration
        if decided.kind == "complete":
            walk.end, walk.returned = "COMPLETE", decided.target
            return walk
        if decided.kind == "abort":
            walk.end = f"ABORT: {decided.reason}"
            walk.reason, walk.abort_kind = decided.reason, decided.abort_kind
            return walk
        if decided.kind == "loop_judge":
            monitor = piece.loop_monitors[decided.monitor or 0]
            name, kind = judge_name(monitor), "loop_judge"
            judge = (decided.monitor or 0, decided.cycle_count, decided.natural_next)
            continue
        if decided.kind in ("wait_input", "wait_answer"):
            walk.waits += 1
            inputs = [*inputs, f"user input {walk.waits}"]
        name, kind, judge = decided.target or name, "agent", None
    walk.end = "the walk did not end"
    return walk
