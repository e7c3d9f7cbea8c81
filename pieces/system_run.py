"""A ``kind: system`` step at run time: no model call, only inputs, effects and rules.

TAKT v0.60 (SystemStepExecutor.ts:119-180) resolves the step's ``system_inputs`` into
``context.<step>.<as>``, runs its ``effects`` in order, each with its ``{context:…}``,
``{structured:…}`` and ``{effect:…}`` arguments resolved against the state so far, and
keeps each result as ``effect.<step>.<type>``; then the step's rules are evaluated
(normally ``when(…)``) over that state. Its content is ``System step "<name>" completed.``

Like ``pieces.program.next_step`` this is a pure program: ``next_effect(spec, facts,
done)`` returns the next effect the worker must perform, or the step's ``Outcome``
(which carries what the step adds to the workflow state). ``facts`` is what the worker
looked up for the inputs (the task, the workspace's branch, the owner's queue), ``done``
the results of the effects performed so far.

legato has no GitHub/GitLab integration. What the forge would be asked is answered as a
project without a forge answers it: no open pull requests or issues (``pr_list`` and
``issue_list`` are empty, the selections and ``pr_context``/``issue_context`` do not
exist). The effects that act on a pull request (``comment_pr``, ``sync_with_root``,
``resolve_conflicts_with_ai``, ``merge_pr``, ``close_pr``, ``enqueue_task`` with ``mode:
from_pr``) are accepted only behind a ``when(…)`` route (pieces/workflow/forge.py) and
fail the step if a run ever reaches them. ``enqueue_task`` with ``mode: new`` submits a
legato job; its forge options (an issue to create or link, a pull request to open, a
base branch to create) are not carried out and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pieces.exchange import Call
from pieces.spec import MovementSpec, Outcome, runtime_error
from pieces.state import StateError, payload, with_step
from pieces.workflow_rules import judge_workflow

ENQUEUE = "enqueue_task"
FORGE_EFFECTS = frozenset(
    {"comment_pr", "sync_with_root", "resolve_conflicts_with_ai", "merge_pr", "close_pr"}
)
FORGE_INPUTS = frozenset(
    {"pr_context", "issue_context", "pr_list", "issue_list", "pr_selection", "issue_selection"}
)
NO_FORGE = "legato has no GitHub/GitLab integration"


@dataclass(frozen=True)
class Facts:
    """What the worker looked up for a system step's inputs."""

    task: str
    branch: str | None = None  # the workspace's current branch, when it is a git work tree
    # task_queue_context by exclude_current_task: the owner's jobs counted as TAKT counts
    # its task queue (pending/running/completed/failed/exceeded/pr_failed).
    queue: Mapping[bool, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Effect:
    """An effect the worker performs (only enqueue_task with mode new reaches it)."""

    type: str
    payload: dict[str, Any]


def content(name: str) -> str:
    return f'System step "{name}" completed.'


def queue_variants(spec_inputs: list[dict[str, Any]]) -> set[bool]:
    """Which task_queue_context views (exclude_current_task) the inputs ask for."""
    return {
        bool(i.get("exclude_current_task"))
        for i in spec_inputs
        if i.get("type") == "task_queue_context"
    }


def needs_branch(spec_inputs: list[dict[str, Any]]) -> bool:
    return any(i.get("type") in ("branch_context", "pr_context") for i in spec_inputs)


def resolve_input(item: Mapping[str, Any], facts: Facts) -> Any:
    """One input's value, in the shape TAKT's DefaultSystemStepServices gives it."""
    kind = item.get("type")
    if kind == "task_context":
        return {"exists": True, "body": facts.task} if facts.task else {"exists": False}
    if kind == "branch_context":
        return {"exists": True, "name": facts.branch} if facts.branch else {"exists": False}
    if kind == "task_queue_context":
        return dict(facts.queue.get(bool(item.get("exclude_current_task")), {}))
    if kind in ("pr_list", "issue_list"):
        return []  # no forge: nothing is open
    if kind == "pr_context" and facts.branch:
        return {"exists": False, "branch": facts.branch}
    return {"exists": False}  # pr/issue context and selections: nothing to select


def resolve_inputs(inputs: list[dict[str, Any]], facts: Facts) -> dict[str, Any]:
    return {str(item["as"]): resolve_input(item, facts) for item in inputs}


def _positive(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f'System effect requires positive safe integer field "{name}"')


def check_payload(kind: str, args: Mapping[str, Any]) -> None:
    """TAKT's payload checks once references are resolved (system-step-effect-runner.ts)."""
    if kind == ENQUEUE:
        for name in ("mode", "workflow", "task"):
            value = args.get(name)
            if name in args and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f'System effect requires non-empty string field "{name}"')
        for name in ("pr", "issue_number"):
            if name in args:
                _positive(args[name], name)
        issue = args.get("issue")
        if issue is not None:
            if not isinstance(issue, Mapping):
                raise ValueError('System effect requires object field "issue"')
            unknown = sorted(set(issue) - {"create", "title", "labels"})
            if unknown:
                raise ValueError(f'System effect does not allow unknown field "issue.{unknown[0]}"')
            if "create" in issue and not isinstance(issue["create"], bool):
                raise ValueError('System effect requires boolean field "issue.create"')
            if "issue_number" in args and issue.get("create") is True:
                raise ValueError(
                    'System effect does not allow "issue_number" when "issue.create" is true'
                )
        return
    if "pr" in args:
        _positive(args["pr"], "pr")


def _forge_refusal(spec: MovementSpec, kind: str) -> Outcome:
    what = f'effect "{kind}"' if kind in FORGE_EFFECTS else f'effect "{kind}" (mode from_pr)'
    return runtime_error(
        spec.piece,
        content(spec.movement.name),
        f'System step "{spec.movement.name}": {what} acts on a pull request; {NO_FORGE}',
    )


def next_effect(spec: MovementSpec, facts: Facts, done: Mapping[str, dict]) -> Effect | Outcome:
    movement = spec.movement
    name = movement.name
    context = resolve_inputs(movement.system_inputs, facts)
    state = with_step(spec.state, "context", name, context)
    results: dict[str, Any] = {}
    for effect in movement.effects:
        kind = str(effect.get("type"))
        if kind in done:
            results[kind] = done[kind]
            state = with_step(state, "effect", name, dict(results))
            continue
        if kind in FORGE_EFFECTS or (kind == ENQUEUE and effect.get("mode") == "from_pr"):
            return _forge_refusal(spec, kind)
        try:
            args = payload(effect, state)
            check_payload(kind, args)
        except (StateError, ValueError) as exc:
            return runtime_error(spec.piece, content(name), str(exc))
        return Effect(kind, args)
    added: dict[str, Any] = {"context": context}
    if movement.effects:
        added["effect"] = results
    judged = replace(spec, state=state)
    text = content(name)
    if not movement.rules:
        return Outcome("done", text, state=added)
    decided = judge_workflow(judged, [], text, {}, [])
    if isinstance(decided, Call):  # label rules would need a judge: refused at validation
        return runtime_error(
            spec.piece, text, f'System step "{name}" needs a judge to choose its rule'
        )
    return replace(decided, state=added)
