"""A ``kind: workflow_call`` step at run time: the called piece, the shared budget, and
what the called workflow's end makes of the calling step (TAKT v0.60,
``WorkflowCallRunner.ts``, ``WorkflowCallExecutor.ts``, ``WorkflowRunLoop.ts``).

* **The called piece** is the callee embedded at submission (``Piece.callees``), run
  with the root's step limit (TAKT's ``maxStepsOverride``: its own ``max_steps`` is
  ignored) and the caller's ``vars`` overlaid with the step's (``{var:<name>}``).
* **The budget.** A workflow_call step consumes no iteration; the called workflow
  counts on from the caller's counter, and the caller goes on from where the called
  workflow stopped. A top-level call run carries the iteration its callee's first step
  will take, so ``iteration - 1`` steps were used before it; a parallel member carries
  its parallel step's iteration, which that step already used. The limit is checked
  before each step that consumes an iteration, the called workflow's first included.
* **The result.** A called workflow that completed gives ``COMPLETE``, one that
  ended through a ``return:`` rule gives that label, anything else ``ABORT``; the
  calling step takes the first visible rule whose condition is that label (none:
  TAKT's ``rule_no_match``). Its output is the called workflow's last output (an
  abort that was not a transition gives the abort reason instead), and an ``ABORT``
  transition right after it ends the caller with the called workflow's own reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pieces.model import ABORT, COMPLETE, Movement, Piece
from pieces.spec import Outcome
from pieces.workflow_rules import RULE_NO_MATCH, call_result_rule

CALL = "workflow_call"
METHOD = "workflow_call"  # how a call run's rule was found (the run's match_method)
SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class ChildEnd:
    """How a called workflow's job ended, as the caller reads it."""

    status: str  # the child job's terminal status: succeeded, failed or cancelled
    returned: str | None = None  # the label of the `return:` rule that ended it
    last_output: str | None = None  # the output of its last top-level step
    reason: str | None = None  # why it aborted
    abort_kind: str | None = None  # TAKT's abort kind (step_transition, iteration_limit, …)
    steps_used: int = 0  # the shared counter when it ended


def call_label(end: ChildEnd) -> str:
    if end.returned is not None:
        return end.returned
    return COMPLETE if end.status == SUCCEEDED else ABORT


def call_outcome(movement: Movement, end: ChildEnd, interactive: bool = False) -> Outcome:
    """The calling step's outcome for its called workflow's end (TAKT's
    ``buildWorkflowCallResponse``)."""
    label = call_label(end)
    if end.returned is not None or label == COMPLETE:
        content = end.last_output or label
    elif end.abort_kind == "step_transition":
        content = end.last_output or end.reason or ABORT
    else:
        content = end.reason or ABORT
    index = call_result_rule(movement, label, interactive)
    if index is None:
        return Outcome("error", content, failure=RULE_NO_MATCH, abort_kind=RULE_NO_MATCH)
    aborted = label == ABORT
    return Outcome(
        "done",
        content,
        rule_index=index,
        method=METHOD,
        call_failure=(end.reason or ABORT) if aborted else None,
        abort_kind=end.abort_kind if aborted else None,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def called_piece(caller: Piece, movement: Movement) -> Piece:
    """The piece a workflow_call step's child job runs."""
    callee = caller.callees[movement.call or ""]
    variables = {**caller.vars, **{k: _text(v) for k, v in movement.vars.items()}}
    return callee.model_copy(update={"max_movements": caller.max_movements, "vars": variables})


def steps_before(iteration: int, member: bool) -> int:
    """Steps of the shared counter used before a call run with ``iteration`` starts."""
    return iteration if member else iteration - 1


def over_budget(piece: Piece, used: int) -> bool:
    """Whether a workflow that starts with ``used`` steps used aborts before its first
    step (``Max steps reached``); a first step that is itself a call consumes nothing."""
    first = piece.movement(piece.initial_movement)
    limit = piece.max_movements
    return limit is not None and first.kind != CALL and used >= limit


def steps_used(iteration: int, recorded: int | None) -> int:
    """The shared counter after a run: what a call or parallel run recorded, else its
    own iteration."""
    return max(iteration, recorded or 0)


def report_segment(step: str, occurrence: int, workflow: str) -> str:
    """The sub-folder of the caller's reports a called workflow writes into (TAKT's
    ``reports/subworkflows/iteration-<n>--step-<name>--workflow-<wf>``)."""
    return (
        f"iteration-{occurrence}--step-{quote(step, safe='')}--workflow-{quote(workflow, safe='')}"
    )
