"""The recovery sweep for agent turns: a turn whose worker died goes back to its queue.

Called by the beat's recover_stuck (tasks.maintenance) beside the sweep for movement
runs. A running turn whose lease expired is handed back (pending, re-sent) while its
attempts stay within 1 + RUN_RETRY_BUDGET, else it fails with a clear error, so a chat
caller gets an answer or a 503 instead of waiting on a row that never changes.
"""

from __future__ import annotations

from sqlalchemy import select

from app.config import Settings
from app.contract import AGENT_TURN, send
from app.ledger import end_read, unit_of_work
from app.ledger.agent_tasks import expired_tasks, time_out_task
from app.models import Agent
from swarm.specs import agent_queue


def recover_turns_once(settings: Settings) -> dict[str, int]:
    with unit_of_work() as work:
        candidates = expired_tasks(work)
        work.discard()
    counts = {"turns_rerun": 0, "turns_failed": 0}
    for task in candidates:
        with unit_of_work() as work:
            outcome = time_out_task(work, task.id, settings.run_retry_budget)
            if outcome == "rerun":
                queue = _queue_of(work, task.agent_id)
                work.after(lambda tid=task.id, q=queue: send(AGENT_TURN, str(tid), queue=q))
        if outcome:
            counts[f"turns_{outcome}"] += 1
    end_read()
    return counts


def _queue_of(work, agent_id) -> str:
    agent = work.conn.execute(
        select(Agent.name, Agent.owner_id, Agent.tier, Agent.dedicated).where(Agent.id == agent_id)
    ).one()
    return agent_queue(agent.name, owner=agent.owner_id) if agent.dedicated else agent.tier
