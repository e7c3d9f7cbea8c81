"""The LLM side of a movement run: model resolution, tools, traces, cancellation.

Split from tasks.execution so that module stays about claim -> rules -> finish.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import select

from agents.llm import LLMClient
from agents.models import ModelCache
from agents.runtime import TurnResult, run_turn
from app.config import Settings
from app.db import db
from app.models import Job
from app.status import JobStatus
from app.transitions import record_event
from pieces import Movement
from tasks.agent_host import AgentSpec, JobToolHost, Recorder, toolbox_for
from tasks.lease import LeaseKeeper
from tasks.llm_profiles import profile_for

if TYPE_CHECKING:
    from tasks.execution import Claimed

log = logging.getLogger(__name__)

_client: LLMClient | None = None
# Served models per endpoint, for model resolution (movement -> agent -> tier default).
_models = ModelCache()


def llm_client() -> LLMClient:
    """One pooled client per worker process, shared by its threads."""
    global _client
    if _client is None:
        _client = LLMClient()
    return _client


def turn(
    claimed: Claimed,
    movement: Movement,
    prompt: str,
    settings: Settings,
    purpose: str | None = None,
    host: JobToolHost | None = None,
    lease: LeaseKeeper | None = None,
) -> TurnResult:
    """One agent turn: the movement's (or its agent's) prompt, model and tools.

    Judges (`purpose` set) get a plain completion: no tools, no agent prompt.
    """
    headers = {
        "X-Legato-Job": str(claimed.job_id),
        "X-Legato-Run": str(claimed.run_id),
        "X-Legato-Movement": movement.name,
    }
    if purpose:
        headers["X-Legato-Purpose"] = purpose
    agent = claimed.agent if purpose is None else None
    # A dedicated agent's run sits on queue agent.<name>; its LLM endpoint is its tier's.
    tier = agent.tier if agent else (movement.tier or claimed.tier)
    profile = _resolve_model(
        claimed, settings, tier, movement.model or (agent.model if agent else None), purpose
    )
    recorder = Recorder(tier, job_id=claimed.job_id, run_id=claimed.run_id, movement=movement.name)
    toolbox = None
    if purpose is None and claimed.workspace_dir is not None:
        allowed = list(movement.allowed_tools) or list(agent.allowed_tools if agent else ())
        toolbox = toolbox_for(
            settings,
            allowed,
            agent.max_tool_calls if agent else None,
            workspace_dir=claimed.workspace_dir,
            recorder=recorder,
            host=host,
            should_stop=_stop_check(claimed.job_id, lease),
            git=claimed.own_repo,
        )
    return run_turn(
        llm_client(),
        profile,
        prompt,
        system=agent.system_prompt if agent else None,
        headers=headers,
        on_retry=_retry_recorder(claimed.job_id, movement.name),
        on_llm_call=recorder.llm_call,
        toolbox=toolbox,
        temperature=agent.temperature if agent else None,
    )


def _resolve_model(
    claimed: Claimed, settings: Settings, tier: str, wanted: str | None, purpose: str | None
):
    """The tier's profile with the wanted model, or a served fallback and a warning event."""
    profile = profile_for(settings, tier)
    if not wanted or profile.is_demo:
        return profile
    model, warning = _models.resolve(llm_client(), profile, wanted)
    if warning and purpose is None:
        record_event(
            claimed.job_id,
            "model_fallback",
            movement=claimed.name,
            run_id=str(claimed.run_id),
            wanted=wanted,
            model=model,
            warning=warning,
        )
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.warning("could not record model fallback for job %s", claimed.job_id)
    return replace(profile, model=model)


def _stop_check(job_id: uuid.UUID, lease: LeaseKeeper | None):
    def should_stop() -> bool:
        if lease is not None and lease.lost.is_set():
            return True
        status = db.session.scalar(select(Job.status).where(Job.id == job_id))
        db.session.rollback()  # a read only; hold no transaction during the tool loop
        return status != JobStatus.RUNNING

    return should_stop


def delegate_sync(agent: AgentSpec, message: str, recorder: Recorder) -> TurnResult:
    """delegate_to_agent(mode=sync): the other agent's chat turn, run here, its reply returned."""
    from tasks.chat import agent_reply

    return agent_reply(agent, message, recorder=recorder)


def _retry_recorder(job_id: uuid.UUID, movement: str):
    def on_retry(info) -> None:
        try:
            record_event(
                job_id,
                "llm_retry",
                movement=movement,
                attempt=info.attempt,
                reason=info.reason,
                wait_s=round(info.wait_s, 2),
            )
            db.session.commit()
        except Exception:  # progress reporting must never break the call it reports on
            db.session.rollback()
            log.warning("could not record LLM retry for job %s", job_id, exc_info=True)

    return on_retry
