"""One visit of a movement run: claim it, then run its phases or its team's next step.

    claim      pending -> running with a lease, in one transaction that also reads the
               run's recorded phases and its prompt context (tasks.engine.claim)
    phases     the pure program (pieces.program.next_step) names each model call; each
               answer is checkpointed before the next call (tasks.engine.phases)
    finish     the run completes and the route is applied in one transaction; the next
               runs are sent after it commits (tasks.engine.finish)
    call       a workflow_call run starts its called workflow as a child job and waits;
               its end wakes the run, which routes on the result (tasks.engine.call)
    system     a kind: system run resolves its inputs, performs its effects and routes,
               all in one transaction (tasks.engine.system)

A lease renewer (tasks.engine.leases) keeps the claim alive; a run found lost (cancelled,
or timed out by the recovery sweep) stops and its output is discarded.
"""

from __future__ import annotations

import uuid

from flask import current_app

from app.config import Settings
from tasks.engine.call import visit_call
from tasks.engine.claim import claim_run
from tasks.engine.finish import refuse
from tasks.engine.leader import visit_leader
from tasks.engine.leases import leases
from tasks.engine.phases import run_phases
from tasks.engine.system import visit_system
from tasks.engine.workspace import restore


def execute_run(run_id: uuid.UUID, worker: str) -> str:
    """Run (or resume) one movement run; returns a one-word outcome for the worker log."""
    settings: Settings = current_app.extensions["legato.settings"]
    claimed = claim_run(run_id, worker, settings)
    if claimed is None:
        return "skipped"
    if claimed.movement.agent and claimed.agent is None:
        return refuse(
            claimed,
            f"{claimed.piece.words[1]} {claimed.run.name} names agent "
            f"{claimed.movement.agent!r}, which is not registered for this job's owner",
        )
    if claimed.movement.kind == "workflow_call":
        # No model call: start the called workflow, or route on its end (no lease
        # renewal needed, each visit is one short transaction).
        return visit_call(claimed, settings)
    if claimed.movement.kind == "system":
        # No model call either: inputs, effects and the route in one transaction.
        return visit_system(claimed)
    registry = leases(current_app._get_current_object(), settings.movement_lease_seconds)
    held = registry.hold(run_id, worker)
    spec = claimed.run.spec or {}
    if "restore" in spec and not claimed.answers:
        restore(claimed, spec["restore"])
    try:
        if claimed.movement.kind == "team_leader" and claimed.run.kind == "team_leader":
            return visit_leader(claimed, held, settings)
        return run_phases(claimed, held, settings)
    finally:
        registry.release(held)
