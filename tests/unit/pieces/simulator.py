"""A pure walk through a piece with a scripted model, over the engine's own functions.

No copy of the engine's rules lives here: each movement visit runs
`pieces.program.next_step` until it yields an outcome (the scripted model answers each
call), `pieces.routing.route` decides where to go, and the loop history is
`pieces.loops.history_of` over the runs so far, exactly as the worker derives them.
What the walk adds is only what the database and the queues do for the worker:
numbering iterations, running a parallel movement's members before their parent,
and feeding user inputs. (Team leaders are covered end to end only.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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
from pieces.loops import history_of, judge_movement, judge_name
from tests.piece_suite.scripted import ScriptedModel


@dataclass
class Walk:
    path: list[str] = field(default_factory=list)
    methods: list[str | None] = field(default_factory=list)
    sub_methods: dict[str, list[str | None]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    reports: set[str] = field(default_factory=set)
    end: str = ""
    waits: int = 0


def _run(
    piece: Piece,
    movement,
    model: ScriptedModel,
    run_id: str,
    ctx: PromptContext,
    walk: Walk,
    **extra,
) -> Outcome:
    spec = MovementSpec(
        piece=piece,
        movement=movement,
        phase1_prompt=phase1_prompt(piece, movement, ctx) if movement.kind != "parallel" else "",
        interactive=ctx.interactive,
        **extra,
    )
    answers: list[Answer] = []
    step = next_step(spec, answers)
    while isinstance(step, Call):
        walk.calls[step.kind] += 1
        text = model.reply(movement.name, run_id, step.kind)
        answers.append(Answer(kind=step.kind, name=step.name, content=text or ""))
        step = next_step(spec, answers)
    return step


def simulate(
    piece: Piece, script: dict[str, list[str]], *, interactive: bool = False, limit: int = 100
) -> Walk:
    model = ScriptedModel(dict(script))
    walk = Walk()
    runs: list[tuple[str, str, str | None]] = []
    name, kind, judge = piece.initial_movement, "agent", None
    iteration, ids = 0, iter(range(1, 10_000))
    inputs: list[str] = []
    while iteration < limit:
        iteration += 1
        ctx = PromptContext(
            task="scripted", iteration=iteration, user_inputs=inputs, interactive=interactive
        )
        if kind == "loop_judge":
            monitor, count, _ = judge
            movement = judge_movement(piece, monitor, count)
        else:
            movement = piece.movement(name)
        subs = ()
        if movement.kind == "parallel":
            results = []
            for sub in movement.parallel:
                out = _run(piece, sub, model, f"run-{next(ids)}", ctx, walk)
                rule = sub.rules[out.rule_index] if out.rule_index is not None else None
                walk.sub_methods.setdefault(sub.name, []).append(out.method)
                error = out.failure if out.status == "error" else None
                results.append(
                    SubResult(sub.name, out.content, rule.condition if rule else None, error)
                )
            subs = tuple(results)
        outcome = _run(piece, movement, model, f"run-{next(ids)}", ctx, walk, sub_results=subs)
        walk.path.append(movement.name)
        walk.methods.append(outcome.method)
        if outcome.status == "done":
            walk.reports |= set(outcome.reports)
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
        if decided.kind == "complete":
            walk.end = "COMPLETE"
            return walk
        if decided.kind == "abort":
            walk.end = f"ABORT: {decided.reason}"
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
