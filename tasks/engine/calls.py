"""Making one model call of a movement run: its tier and model, tools, conversation, record.

`perform` turns a program `Call` into an LLM request (Phase 1 with the movement's tools,
Phase 2 continuing the conversation without tools, Phase 3 in a fresh conversation on
the judge tier, with structured output where asked), and returns the program `Answer`
with the phase record the ledger stores as the checkpoint.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from agents.llm import LLMClient, LLMError, LLMProfile
from agents.models import ModelCache
from agents.runtime import LLMCall, Toolbox, TurnResult, run_turn
from app.config import Settings
from app.ledger import unit_of_work
from app.ledger.traces import llm_call_row
from pieces import Answer, Call, Movement
from pieces.program import EXECUTE, REPORT_RETRY
from tasks.agent_host import AgentSpec
from tasks.llm_profiles import profile_for

log = logging.getLogger(__name__)

_client: LLMClient | None = None
_models = ModelCache()
EDIT_TOOLS = ("Write", "Edit", "Bash")


def llm_client() -> LLMClient:
    """One pooled client per worker process, shared by its threads."""
    global _client
    if _client is None:
        _client = LLMClient()
    return _client


def phase1_tools(movement: Movement, agent: AgentSpec | None) -> list[str]:
    """The tools Phase 1 offers, filtered as TAKT filters them (SEMANTICS.md §1.1)."""
    tools = list(movement.allowed_tools) or list(agent.allowed_tools if agent else ())
    if movement.output_contracts and movement.edit is not True:
        tools = [t for t in tools if t != "Write"]
    if movement.edit is False or movement.required_permission_mode == "readonly":
        tools = [t for t in tools if t not in EDIT_TOOLS]
    return tools


@dataclass
class CallContext:
    """Who is calling: the job and run, the movement, its agent, and where to record."""

    settings: Settings
    job_id: uuid.UUID
    run_id: uuid.UUID
    attempt: int
    movement: Movement
    tier: str
    agent: AgentSpec | None = None
    llm_calls: list[dict[str, Any]] = field(default_factory=list)
    # A team part's remaining time: its model calls may not wait longer than that.
    seconds_left: float | None = None


@dataclass
class Performed:
    answer: Answer
    row: dict[str, Any]  # the run_phases record, without run/seq


def _profile(ctx: CallContext, call: Call) -> LLMProfile:
    if ctx.seconds_left is not None:
        profile = _profile_for_call(ctx, call)
        return replace(profile, timeout=max(1.0, min(profile.timeout, ctx.seconds_left)))
    return _profile_for_call(ctx, call)


def _profile_for_call(ctx: CallContext, call: Call) -> LLMProfile:
    settings, movement, agent = ctx.settings, ctx.movement, ctx.agent
    if call.judge:
        tier = settings.judge_tier or ctx.tier
        return profile_for(settings, tier)
    tier = agent.tier if agent else ctx.tier
    profile = profile_for(settings, tier)
    wanted = movement.model or (agent.model if agent else None)
    if not wanted or profile.is_demo:
        return profile
    model, warning = _models.resolve(llm_client(), profile, wanted)
    if warning:
        with unit_of_work() as work:
            work.event(
                "model_fallback",
                ctx.job_id,
                movement=movement.name,
                run_id=str(ctx.run_id),
                wanted=wanted,
                model=model,
                warning=warning,
            )
    return replace(profile, model=model)


def _on_retry(ctx: CallContext, call: Call):
    def record(info) -> None:
        try:
            with unit_of_work() as work:
                work.event(
                    "llm_retry",
                    ctx.job_id,
                    movement=ctx.movement.name,
                    phase=call.phase,
                    kind=call.kind,
                    attempt=info.attempt,
                    reason=info.reason,
                    wait_s=round(info.wait_s, 2),
                )
        except Exception:  # progress reporting must never break the call it reports on
            log.warning("could not record an LLM retry for job %s", ctx.job_id, exc_info=True)

    return record


def _on_llm_call(ctx: CallContext, tier: str):
    def record(c: LLMCall) -> None:
        ctx.llm_calls.append(
            llm_call_row(
                tier=tier,
                model=c.model,
                outcome=c.outcome,
                duration_s=c.duration_s,
                tokens_in=c.tokens_in,
                tokens_out=c.tokens_out,
                job_id=ctx.job_id,
                run_id=ctx.run_id,
            )
        )

    return record


def _structured(content: str) -> Any:
    text = content.strip()
    if not text.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def perform(
    ctx: CallContext,
    call: Call,
    history: list[dict[str, str]],
    *,
    toolbox: Toolbox | None = None,
    host: Any = None,
) -> Performed:
    """Make `call`; an endpoint that refuses a judgment request yields a failed stage."""
    profile = _profile(ctx, call)
    headers = {
        "X-Legato-Job": str(ctx.job_id),
        "X-Legato-Run": str(ctx.run_id),
        "X-Legato-Movement": ctx.movement.name,
        "X-Legato-Phase": str(call.phase),
        "X-Legato-Kind": call.kind,
    }
    if call.name is not None:
        headers["X-Legato-Name"] = quote(call.name, safe=" :./-_")
    if call.judge:
        headers["X-Legato-Purpose"] = "judge"
    temperature = ctx.agent.temperature if ctx.agent and call.kind == EXECUTE else None
    try:
        turn = run_turn(
            llm_client(),
            profile,
            call.prompt,
            system=call.system,
            history=history if call.conversation and not call.fresh else None,
            headers=headers,
            on_retry=_on_retry(ctx, call),
            on_llm_call=_on_llm_call(ctx, profile.tier),
            toolbox=toolbox if call.tools else None,
            temperature=temperature,
            schema=call.schema,
            allow_empty=call.allow_empty,
        )
    except LLMError as exc:
        # A judgment stage the endpoint refuses (e.g. no structured output) is a failed
        # stage and the cascade goes on; a tolerant call's failure is an answer too (the
        # program decides); any other call failing fails the movement. An endpoint that
        # never answered hands the run back whatever the call.
        refused = call.judge and exc.status is not None and exc.status < 500
        if exc.unreachable or not (refused or call.tolerant):
            raise
        turn = TurnResult(content="", model=profile.model, llm_calls=1)
        return Performed(
            Answer(kind=call.kind, name=call.name, status="error", error=exc.reason),
            _row(ctx, call, turn, "error", error=exc.reason),
        )
    if host is not None:
        host.drain_delegated(turn, ctx.llm_calls)
    status, structured = "done", None
    if call.schema is not None:
        structured = _structured(turn.content)
    pause = _pause(host) if call.kind == EXECUTE else None
    if pause is not None:
        status, structured = "blocked", pause
    answer = Answer(
        kind=call.kind, content=turn.content, name=call.name, status=status, structured=structured
    )
    return Performed(answer, _row(ctx, call, turn, status, structured=structured))


def _pause(host: Any) -> dict[str, Any] | None:
    """legato's job tools: ask_human is TAKT's "blocked"; spawn_subtask waits for children."""
    if host is None:
        return None
    if host.questions:
        return {"pause": "human", "questions": list(host.questions)}
    if host.spawned:
        return {"pause": "subtasks", "children": [str(c) for c in host.spawned]}
    return None


def _row(
    ctx: CallContext,
    call: Call,
    turn: TurnResult,
    status: str,
    *,
    structured: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    # A failed turn (a tolerant call's) stays out of the conversation: the next turn
    # continues from the last one that answered, as TAKT keeps the last good session.
    in_conversation = (call.conversation or call.kind == REPORT_RETRY) and status != "error"
    return {
        "job_id": ctx.job_id,
        "attempt": ctx.attempt,
        "phase": call.phase,
        "kind": call.kind,
        "name": call.name,
        "session_key": ctx.movement.conversation_key if in_conversation else None,
        "resets": call.fresh or call.kind == REPORT_RETRY,
        "status": status,
        "prompt": call.prompt,
        "system": call.system,
        "answer": turn.content,
        "structured": structured,
        "error": error,
        "tokens_in": turn.tokens_in,
        "tokens_out": turn.tokens_out,
        "latency_ms": turn.latency_ms,
        "model": turn.model,
        "tool_calls": turn.tool_calls,
    }
