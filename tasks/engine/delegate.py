"""delegate_to_agent(mode=sync): the other agent's chat turn, run here, its reply returned."""

from __future__ import annotations

from agents.runtime import TurnResult
from tasks.agent_host import AgentSpec, Recorder
from tasks.chat import agent_reply


def delegate_sync(agent: AgentSpec, message: str, recorder: Recorder) -> TurnResult:
    return agent_reply(agent, message, recorder=recorder)
