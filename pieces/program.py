"""One movement run as a sequence of model calls: a pure program over the answers so far.

``next_step(spec, answers)`` returns the next model call to make, or the run's outcome.
The worker makes the call, records the answer (the checkpoint) and asks again. Because
the program is a function of the recorded answers, a redelivered message replays them
and resumes after the last finished call instead of repeating it.

The order is TAKT's (SEMANTICS.md §1): Phase 1 (execute, with tools); Phase 2 (one call
per report file, with one retry in a fresh conversation); Phase 3 (structured output,
then a status tag, then an AI judge); and, in the ``piece`` dialect only, the fallbacks
over the Phase 1 answer when Phase 3 found nothing: a tag in that answer, a judge over
the ``ai()`` conditions, a judge over all conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pieces.dynamic as dynamic
import pieces.episode as episode
import pieces.gates as gates
from pieces.aggregate import aggregated_output, first_aggregate
from pieces.dynamic import Fanout
from pieces.exchange import Answer, Call
from pieces.exchange import find as _find
from pieces.judgment import (
    CONDUCTOR,
    EVALUATION_SCHEMA,
    JUDGMENT_SCHEMA,
    Candidate,
    candidates,
    judge_prompt,
    judged_content,
    phase3_prompt,
    rule_is_selectable,
    structured_value,
)
from pieces.reports import phase2_prompt
from pieces.spec import (
    EXECUTE,
    FALLBACK_AI,
    FALLBACK_ALL,
    JUDGE_AI,
    JUDGE_KINDS,
    JUDGE_STRUCTURED,
    JUDGE_TAG,
    REPORT,
    REPORT_RETRY,
    MovementSpec,
    Outcome,
    SubResult,
    failed_execution,
    judge_number,
    no_rule,
    no_rule_message,
    runtime_error,
)
from pieces.state import with_step
from pieces.structured import schema_of, structured_result
from pieces.tags import detect_tag
from pieces.workflow_rules import judge_workflow, judge_workflow_parallel

__all__ = [
    "EXECUTE",
    "JUDGE_KINDS",
    "REPORT",
    "REPORT_RETRY",
    "Answer",
    "Call",
    "Fanout",
    "MovementSpec",
    "Outcome",
    "SubResult",
    "failed_execution",
    "next_step",
    "no_rule",
    "no_rule_message",
    "runtime_error",
]


def next_step(spec: MovementSpec, answers: Sequence[Answer]) -> Call | Outcome | Fanout:
    if spec.movement.kind == "parallel":
        return _parallel_parent(spec, answers)
    if spec.prompt_error is not None:
        return runtime_error(spec.piece, "", spec.prompt_error)
    pre = episode.prelude(spec, answers)
    if isinstance(pre, Call):
        return pre
    if isinstance(pre, str):
        return runtime_error(spec.piece, "", pre)
    execute = _find(answers, EXECUTE)
    if execute is None:
        return Call(
            EXECUTE,
            1,
            pre.prompt,
            system=spec.system,
            conversation=True,
            fresh=spec.movement.session == "refresh",
            tools=True,
            schema=schema_of(spec.movement) if spec.piece.dialect == "workflow" else None,
        )
    if execute.status == "blocked":
        why = execute.structured if isinstance(execute.structured, dict) else {}
        return Outcome(
            "blocked",
            execute.content,
            pause=why.get("pause", "human"),
            questions=tuple(why.get("questions") or ()),
        )
    if execute.status == "error":
        step = spec.piece.words[1].capitalize()
        detail = execute.error or execute.content
        return Outcome(
            "error",
            execute.content,
            failure=f'{step} "{spec.movement.name}" failed: {detail}',
            abort_kind="runtime_error",
        )
    after = episode.after_phase1(spec, answers, pre, execute.content)
    if isinstance(after, Call):
        return after
    phase1, diagnostic = after
    structured = None
    if spec.piece.dialect == "workflow" and schema_of(spec.movement) is not None:
        # TAKT keeps the step's validated JSON as structured.<step> before its rules.
        given = execute.structured if phase1 == execute.content else None
        structured, why = structured_result(spec.movement, phase1, given)
        if why is not None:
            return runtime_error(spec.piece, phase1, why)
        state = with_step(spec.state, "structured", spec.movement.name, structured)
        spec = replace(spec, state=state)
    decided = _after_phase1(spec, answers, phase1, diagnostic)
    if structured is not None and isinstance(decided, Outcome):
        return replace(decided, state={"structured": structured})
    return decided


def _after_phase1(
    spec: MovementSpec, answers: Sequence[Answer], phase1: str, diagnostic: str | None
) -> Call | Outcome:
    reports = _report_phase(spec, answers, phase1, diagnostic)
    if isinstance(reports, Call | Outcome):
        return reports
    decided = _judge(spec, answers, phase1, reports)
    if isinstance(decided, Call) or decided.status != "done" or not spec.movement.gate_commands:
        return decided
    gate = gates.check(spec.movement, answers)
    if isinstance(gate, Call):
        return gate
    if isinstance(gate, gates.Refused):
        return Outcome("error", phase1, failure=gate.reason, reports=reports)
    if isinstance(gate, gates.Failed):
        return Outcome(
            "done", gate.report, method="quality_gate", reports=reports, gate_failed=True
        )
    return decided


def _report_phase(
    spec: MovementSpec, answers: Sequence[Answer], phase1: str, diagnostic: str | None = None
) -> dict[str, str] | Call | Outcome:
    reports: dict[str, str] = {}
    for contract in spec.movement.output_contracts:
        common = dict(
            working_dir=spec.working_dir,
            report_dir=spec.report_dir,
            movement_iteration=spec.movement_iteration,
            task=spec.task,
            diagnostic=diagnostic,
        )
        first = _find(answers, REPORT, contract.name)
        if first is None:
            prompt = phase2_prompt(spec.piece, spec.movement, contract, **common)
            return Call(
                REPORT, 2, prompt, contract.name, spec.system, conversation=True, allow_empty=True
            )
        if first.status == "done" and first.content.strip():
            reports[contract.name] = first.content.strip()
            continue
        retry = _find(answers, REPORT_RETRY, contract.name)
        if retry is None:
            prompt = phase2_prompt(
                spec.piece, spec.movement, contract, previous_work=phase1, **common
            )
            return Call(REPORT_RETRY, 2, prompt, contract.name, spec.system, allow_empty=True)
        if retry.status == "done" and retry.content.strip():
            reports[contract.name] = retry.content.strip()
            continue
        if spec.piece.dialect == "piece":
            detail = retry.error or "Report output is empty"
            return Outcome(
                "error",
                phase1,
                failure=failed_execution(
                    spec.piece, f"Report phase failed for {contract.name}: {detail}"
                ),
                abort_kind="runtime_error",
            )
        # The workflow dialect tolerates a report that could not be written.
    return reports


def _needs_phase3(spec: MovementSpec, cands: list[Candidate]) -> bool:
    rules = spec.movement.rules
    if spec.piece.dialect == "piece":
        return any(r.kind == "label" for r in rules)
    return len(cands) >= 2


def _judge(
    spec: MovementSpec, answers: Sequence[Answer], phase1: str, reports: dict[str, str]
) -> Call | Outcome:
    movement, piece = spec.movement, spec.piece
    done = lambda index, method: Outcome("done", phase1, index, method, reports)  # noqa: E731
    if not movement.rules:
        return done(None, None)
    cands = candidates(piece, movement, spec.interactive)
    if piece.dialect == "workflow":
        return judge_workflow(spec, answers, phase1, reports, cands)
    if _needs_phase3(spec, cands):
        if len(movement.rules) == 1:
            return done(0, "auto_select")
        content, _ = judged_content(movement, {**spec.earlier_reports, **reports}, phase1)
        if content is not None:
            found = _phase3_stages(spec, answers, cands, content)
            if isinstance(found, Call):
                return found
            if found is not None:
                return done(*found)
    found = _piece_fallbacks(spec, answers, phase1, tag_name=movement.name)
    if isinstance(found, Call):
        return found
    if found is None:
        return no_rule(piece, movement, phase1)
    return done(*found)


def _valid(spec: MovementSpec, index: int) -> bool:
    return rule_is_selectable(spec.movement, index, spec.interactive)


def _phase3_stages(
    spec: MovementSpec, answers: Sequence[Answer], cands: list[Candidate], content: str
) -> tuple[int, str] | Call | None:
    """Structured output, then a tag, then the AI judge; (rule index, method) or None."""
    movement = spec.movement
    structured_prompt = phase3_prompt(movement, cands, content, structured=True)
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
        step = structured_value(stage.content, stage.structured, "step")
        if step is not None and _valid(spec, step - 1):
            return step - 1, "structured_output"
    stage = _find(answers, JUDGE_TAG)
    if stage is None:
        prompt = phase3_prompt(movement, cands, content, structured=False)
        return Call(JUDGE_TAG, 3, prompt, system=CONDUCTOR, allow_empty=True, judge=True)
    if stage.status == "done":
        index = detect_tag(stage.content, movement.name)
        if _valid(spec, index):
            return index, "phase3_tag"
    if not cands:
        return None
    stage = _find(answers, JUDGE_AI)
    if stage is None:
        # TAKT hands the judge the structured Phase 3 prompt as the "agent output", and
        # numbers the conditions as the rules are numbered.
        prompt = judge_prompt(structured_prompt, [(c.number, c.text) for c in cands])
        return Call(JUDGE_AI, 3, prompt, schema=EVALUATION_SCHEMA, allow_empty=True, judge=True)
    number = judge_number(stage)
    if number is not None and _valid(spec, number - 1):
        return number - 1, "ai_judge"
    return None


def _piece_fallbacks(
    spec: MovementSpec, answers: Sequence[Answer], content: str, *, tag_name: str
) -> tuple[int, str] | Call | None:
    """0.31's RuleEvaluator over the Phase 1 answer (or a parallel movement's aggregate)."""
    movement = spec.movement
    index = detect_tag(content, tag_name)
    if _valid(spec, index):
        return index, "phase1_tag"
    ai_rules = [r for r in movement.rules if r.kind == "ai" and _valid(spec, r.index)]
    if ai_rules:
        stage = _find(answers, FALLBACK_AI)
        if stage is None:
            prompt = judge_prompt(content, [(i, r.label or "") for i, r in enumerate(ai_rules, 1)])
            return Call(
                FALLBACK_AI, 3, prompt, schema=EVALUATION_SCHEMA, allow_empty=True, judge=True
            )
        number = judge_number(stage)
        if number is not None and 1 <= number <= len(ai_rules):
            return ai_rules[number - 1].index, "ai_judge"
    visible = [r for r in movement.rules if _valid(spec, r.index)]
    if not visible:
        return None
    stage = _find(answers, FALLBACK_ALL)
    if stage is None:
        prompt = judge_prompt(content, [(r.index + 1, r.condition) for r in visible])
        return Call(FALLBACK_ALL, 3, prompt, schema=EVALUATION_SCHEMA, allow_empty=True, judge=True)
    number = judge_number(stage)
    if number is not None and _valid(spec, number - 1):
        return number - 1, "ai_judge_fallback"
    return None


def _parallel_parent(spec: MovementSpec, answers: Sequence[Answer]) -> Call | Outcome | Fanout:
    """A parallel movement: its members first (a selector picks them on a dynamic step),
    then, once they ended, the aggregate and the rule cascade."""
    piece, movement = spec.piece, spec.movement
    if spec.participants is None and not spec.sub_results:
        chosen = dynamic.choose(
            piece,
            movement,
            answers,
            task=spec.task,
            report_dir=spec.report_dir,
            reports=spec.earlier_reports,
            changed=spec.changed_paths,
            previous=spec.previous_selection,
        )
        return runtime_error(piece, "", chosen) if isinstance(chosen, str) else chosen
    subs = spec.sub_results
    content = aggregated_output([(s.name, s.content) for s in subs])
    if piece.dialect == "workflow":
        return judge_workflow_parallel(spec, answers, content)
    if subs and all(s.error is not None for s in subs):
        errors = "; ".join(f"{s.name}: {s.error}" for s in subs)
        return Outcome(
            "error",
            content,
            failure=failed_execution(piece, f"All parallel sub-{piece.words[1]}s failed: {errors}"),
            abort_kind="runtime_error",
        )
    if not movement.rules:
        return Outcome("done", content)
    outcomes = {s.name: s.condition for s in subs if s.error is None}
    index = first_aggregate(movement, outcomes)
    if index >= 0:
        return Outcome("done", content, index, "aggregate")
    found = _piece_fallbacks(spec, answers, content, tag_name=movement.name)
    if isinstance(found, Call):
        return found
    if found is None:
        return no_rule(piece, movement, content)
    return Outcome("done", content, found[0], found[1])
