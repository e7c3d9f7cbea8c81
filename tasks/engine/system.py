"""One visit of a ``kind: system`` run: inputs, effects and the route in one transaction.

The pure program (pieces/system_run.py) resolves the inputs from what this module looks
up (the task, the workspace's branch, the owner's queue: app/effects.py), names each
effect, and evaluates the rules over the state the effects leave. Everything happens on
one unit of work holding the job lock: the effects' writes (an enqueued job), the run's
completion with its state contribution, and the next run. A worker that dies midway
leaves nothing behind (its lease runs out and the run is re-run from scratch), and a
redelivered message finds the run already claimed or completed, so an effect happens
exactly once; the enqueued job is also keyed by the run (``jobs.effect_run_id``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.effects import enqueue_task, queue_context, root_job
from app.ledger import unit_of_work
from app.status import JobStatus
from pieces import MovementSpec
from pieces.system_run import ENQUEUE, Effect, Facts, needs_branch, next_effect, queue_variants
from tasks.engine.claim import Claimed
from tasks.engine.finish import complete

log = logging.getLogger(__name__)


def branch_of(workspace: Path) -> str | None:
    """The current branch of a git work tree (None: not one, or a detached HEAD)."""
    try:
        head = (workspace / ".git" / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix) :] or None if head.startswith(prefix) else None


def visit_system(claimed: Claimed) -> str:
    run, movement = claimed.run, claimed.movement
    spec = MovementSpec(
        piece=claimed.piece,
        movement=movement,
        interactive=bool(claimed.job.interactive),
        task=claimed.job.instruction,
        state=claimed.state,
    )
    branch = branch_of(claimed.workspace) if needs_branch(movement.system_inputs) else None
    with unit_of_work(run.job_id) as work:
        if work.job_status != JobStatus.RUNNING:
            work.discard()
            return "job-not-running"
        variants = queue_variants(movement.system_inputs)
        root = root_job(work.conn, run.job_id) if True in variants else None
        facts = Facts(
            task=claimed.job.instruction,
            branch=branch,
            queue={
                exclude: queue_context(work.conn, claimed.job.owner_id, root if exclude else None)
                for exclude in variants
            },
        )
        done: dict[str, dict] = {}
        step = next_effect(spec, facts, done)
        while isinstance(step, Effect):
            done[step.type] = _perform(work, claimed, step)
            step = next_effect(spec, facts, done)
        return complete(work, claimed, step, [], [], None)


def _perform(work, claimed: Claimed, effect: Effect) -> dict:
    if effect.type == ENQUEUE:
        return enqueue_task(work, claimed.run, claimed.job, claimed.piece, effect.payload)
    # pieces.system_run ends the step before any other effect reaches the worker.
    raise AssertionError(f"effect {effect.type} is not performed by legato")
