"""A run's phases: the program names each model call; each answer is checkpointed.

Because the program (pieces.program.next_step) is a function of the recorded answers,
a redelivered message replays them and resumes after the last finished phase instead
of repeating it. The last phase is recorded in the finishing transaction itself.
"""

from __future__ import annotations

import logging

from agents.llm import LLMError
from agents.runtime import TurnCancelled
from app.config import Settings
from app.ledger import add_tokens, record_phase, set_values, unit_of_work
from app.ledger.traces import record_llm_calls
from pieces import Answer, Call, MovementSpec, next_step, phase1_prompt, system_prompt
from pieces.dynamic import Fanout
from pieces.program import REPORT, REPORT_RETRY, Outcome
from pieces.state import StateError
from pieces.team import part_timeout_message
from tasks.engine.calls import CallContext, perform, phase1_tools
from tasks.engine.claim import Claimed
from tasks.engine.events import phase_event, phase_started
from tasks.engine.fanout import fan_out
from tasks.engine.finish import fail_run, finish
from tasks.engine.leases import Held
from tasks.engine.local import changed_paths, perform_local
from tasks.engine.tools import ToolSession
from tasks.engine.workspace import write_report

log = logging.getLogger(__name__)


def spec_for(claimed: Claimed, settings: Settings | None = None) -> MovementSpec:
    piece, movement, ctx = claimed.piece, claimed.movement, claimed.context
    features = dict(
        companions=bool(settings and settings.companions_enabled),
        companion_rounds=settings.companion_max_rounds if settings else 3,
        previous_selection=claimed.previous_selection,
        state=claimed.state,
    )
    if claimed.run.kind == "parallel":
        common = dict(
            piece=piece,
            movement=movement,
            sub_results=tuple(claimed.subs),
            participants=claimed.participants,
            error_streak=claimed.error_streak,
            **features,
        )
        if ctx is None:
            return MovementSpec(**common)
        return MovementSpec(
            **common,
            task=ctx.task,
            report_dir=ctx.report_dir,
            earlier_reports=dict(ctx.reports),
            context=ctx,
            changed_paths=_changed(claimed, movement.dynamic is not None),
        )
    if ctx is None:
        return MovementSpec(piece=piece, movement=movement, **features)
    persona_prompt = system_prompt(piece, movement)
    if persona_prompt is None and claimed.agent is not None:
        persona_prompt = claimed.agent.system_prompt
    # A team leader's part gets its instruction as the whole prompt, as TAKT sends it.
    part = claimed.run.kind == "part"
    prompt, prompt_error = movement.instruction, None
    if not part:
        try:
            prompt = phase1_prompt(piece, movement, ctx)
        except StateError as exc:  # {context:…} naming state nobody produced: TAKT throws
            prompt, prompt_error = "", str(exc)
    return MovementSpec(
        prompt_error=prompt_error,
        piece=piece,
        movement=movement,
        phase1_prompt=prompt,
        system=persona_prompt,
        interactive=ctx.interactive,
        working_dir=ctx.working_dir,
        report_dir=ctx.report_dir,
        movement_iteration=ctx.movement_iteration,
        task=ctx.task,
        earlier_reports=dict(ctx.reports),
        context=None if part else ctx,
        changed_paths=_changed(claimed, movement.dynamic_facets is not None),
        **features,
    )


def _changed(claimed: Claimed, wanted: bool) -> tuple[str, ...]:
    """What the job's workspace holds that it made (for selectors), when they need it."""
    return tuple(changed_paths(claimed)) if wanted and not claimed.answers else ()


def run_phases(
    claimed: Claimed,
    held: Held,
    settings: Settings,
    spec: MovementSpec | None = None,
    prior: list[Answer] | None = None,
) -> str:
    """Run the program to its outcome. `prior` answers come first (a team leader's
    aggregate stands in for its Phase 1 answer)."""
    spec = spec or spec_for(claimed, settings)
    run = claimed.run
    ctx = CallContext(
        settings=settings,
        job_id=run.job_id,
        run_id=run.id,
        attempt=run.attempt,
        movement=claimed.movement,
        tier=run.tier,
        agent=claimed.agent,
    )
    tools = ToolSession(claimed, settings, held, phase1_tools(claimed.movement, claimed.agent))
    answers = [*(prior or []), *claimed.answers]
    history = list(claimed.history)
    seq = claimed.next_seq
    step = next_step(spec, answers)
    final_rows: list[dict] = []
    while isinstance(step, Call):
        ctx.seconds_left = tools.seconds_left()
        try:
            if tools.timed_out():
                raise TurnCancelled()
            if step.local is not None:
                performed = perform_local(ctx, claimed, settings, step)
            else:
                performed = perform(
                    ctx, step, history, toolbox=tools.toolbox(step), host=tools.host
                )
        except TurnCancelled:
            if tools.timed_out() and not held.lost.is_set():
                return finish(claimed, _part_timeout(claimed, tools), [], ctx.llm_calls, settings)
            log.info("run %s: stopped between tool calls (job cancelled or lease lost)", run.id)
            return "stopped"
        except LLMError as exc:
            if tools.timed_out():
                return finish(claimed, _part_timeout(claimed, tools), [], ctx.llm_calls, settings)
            return fail_run(claimed, f"LLM call failed: {exc}", exc, ctx.llm_calls)
        if held.lost.is_set():
            return "lost"
        answer, row = performed.answer, {**performed.row, "seq": seq}
        seq += 1
        answers.append(answer)
        if row["session_key"]:
            turn = [{"role": "user", "content": step.prompt}]
            turn.append({"role": "assistant", "content": answer.content})
            history = turn if row["resets"] else history + turn
        if (
            step.kind in (REPORT, REPORT_RETRY)
            and answer.status == "done"
            and answer.content.strip()
        ):
            write_report(claimed, step.name or "", answer.content.strip())
        step = next_step(spec, answers)
        if isinstance(step, Call):
            if not checkpoint(claimed, row, step, ctx.llm_calls):
                return "lost"
            ctx.llm_calls = []
        else:
            final_rows.append(row)
    if isinstance(step, Fanout):
        return fan_out(claimed, step, final_rows, ctx.llm_calls)
    return finish(claimed, step, final_rows, ctx.llm_calls, settings)


def _part_timeout(claimed: Claimed, tools: ToolSession) -> Outcome:
    return Outcome(
        "error", failure=part_timeout_message(tools.timeout_ms or 0), abort_kind="runtime_error"
    )


def checkpoint(claimed: Claimed, row: dict, upcoming: Call, llm_calls: list[dict]) -> bool:
    """Record a finished phase (only while the lease is ours) and announce the next one."""
    run = claimed.run
    with unit_of_work(run.job_id) as work:
        if not record_phase(work, run.id, claimed.owner, row):
            work.discard()
            return False
        record_llm_calls(work, llm_calls)
        add_tokens(work, run.job_id, row["tokens_in"], row["tokens_out"])
        work.event("phase_completed", **phase_event(claimed, row))
        work.event("phase_started", **phase_started(claimed, upcoming))
        if run.parent_run_id is None:
            activity = f"{run.name}: phase {upcoming.phase} ({upcoming.kind})"
            set_values(work, run.job_id, current_activity=activity[:500])
    return True
