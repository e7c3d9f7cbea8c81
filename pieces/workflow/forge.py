"""What legato accepts of a ``kind: system`` step, and the workflows it enqueues.

legato has no GitHub/GitLab integration (pieces/system_run.py says what a system step
sees instead). A step whose effect acts on a pull request (``comment_pr``,
``sync_with_root``, ``resolve_conflicts_with_ai``, ``merge_pr``, ``close_pr``,
``enqueue_task`` ``mode: from_pr``) is accepted only when a workflow can reach it solely
through ``when(…)`` routes: it is not the first step and every rule that leads to it is
a ``when(…)`` (or ``label && when(…)``) condition. That is how TAKT's builtin
``auto-improvement-loop`` reaches them (only once a pull request was selected, which
never happens without a forge); a step every run would reach is refused here rather
than failing the job later.

Also refused: a system step whose rules would need a judge (two or more labels; legato
routes system steps without a model call), and an ``enqueue_task`` whose ``workflow`` is
not a literal name (the enqueued workflow is compiled and embedded when the job is
accepted, ``Piece.enqueues``, so it must be known then).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from pieces.model import LoopMonitor, Piece
from pieces.parse import at
from pieces.problems import Problem, did_you_mean
from pieces.workflow.resources import ResourceError, Resources, safe_name
from pieces.workflow.steps import Located

FORGE_EFFECTS = frozenset(
    {"comment_pr", "sync_with_root", "resolve_conflicts_with_ai", "merge_pr", "close_pr"}
)
WHY = "legato has no GitHub/GitLab integration"
FOLDER = "workflows"


def _all(steps: Iterable[Located]) -> Iterable[Located]:
    for step in steps:
        yield step
        yield from step.members


def _forge_effect(effect: dict) -> str | None:
    kind = effect.get("type")
    if kind in FORGE_EFFECTS:
        return str(kind)
    if kind == "enqueue_task" and effect.get("mode") == "from_pr":
        return "enqueue_task (mode from_pr)"
    return None


def system_problems(
    steps: list[Located], initial: str, monitors: list[LoopMonitor]
) -> list[Problem]:
    problems: list[Problem] = []
    entries: dict[str, list[bool]] = {}  # step -> whether each rule into it is a when()
    for step in _all(steps):
        for rule in step.movement.rules:
            if rule.next:
                entries.setdefault(rule.next, []).append(rule.kind in ("when", "label_when"))
    for monitor in monitors:
        for rule in monitor.judge.rules if monitor.judge else []:
            if rule.next:
                entries.setdefault(rule.next, []).append(rule.kind in ("when", "label_when"))
    first = initial or (steps[0].movement.name if steps else "")
    for step in _all(steps):
        mv = step.movement
        if mv.kind != "system":
            continue
        labels = {r.label for r in mv.rules if r.kind in ("label", "label_when")}
        if len(labels) >= 2:
            problems.append(
                Problem(
                    at(step.path, "rules"),
                    "a system step's rules must not need a judge (two or more labels)",
                    "route a system step with when(...) conditions; legato makes no model "
                    "call for it",
                )
            )
        guarded = mv.name != first and step.parent is None and all(entries.get(mv.name, [True]))
        for i, effect in enumerate(mv.effects):
            where = at(at(step.path, "effects"), i)
            forge = _forge_effect(effect)
            if forge is not None and not guarded:
                problems.append(
                    Problem(
                        at(where, "type"),
                        f"effect {forge} acts on a pull request; {WHY}",
                        "legato accepts it only on a step reached solely through when(...) "
                        "routes, and fails the step if a run gets there",
                    )
                )
            workflow = effect.get("workflow")
            if effect.get("type") == "enqueue_task" and "{" in str(workflow):
                problems.append(
                    Problem(
                        at(where, "workflow"),
                        "the enqueued workflow must be named literally",
                        "legato compiles it when the job is accepted",
                    )
                )
    return problems


# (file, chain) -> the compiled root piece, or its problems
CompileRoot = Callable[[Path, tuple[Path, ...]], tuple[Piece | None, list[Problem]]]


def enqueued_workflows(
    steps: list[Located], res: Resources, chain: tuple[Path, ...], compile_root: CompileRoot
) -> tuple[dict[str, Piece], list[Problem]]:
    """The workflows enqueue_task effects name, compiled as roots of their own jobs."""
    out: dict[str, Piece] = {}
    problems: list[Problem] = []
    for step in _all(steps):
        for i, effect in enumerate(step.movement.effects):
            name = effect.get("workflow")
            if effect.get("type") != "enqueue_task" or effect.get("mode") != "new":
                continue
            if not isinstance(name, str) or "{" in name or name in out:
                continue
            where = at(at(at(step.path, "effects"), i), "workflow")
            if not safe_name(name):
                problems.append(Problem(where, f'"{name}" is not a workflow name'))
                continue
            try:
                file = res.find(FOLDER, name, (".yaml", ".yml"))
            except ResourceError as exc:
                problems.append(Problem(where, f'workflow "{name}": {exc}'))
                continue
            if file is None:
                problems.append(
                    Problem(
                        where,
                        f'unknown workflow "{name}"',
                        did_you_mean(name, res.names(FOLDER, (".yaml", ".yml"))),
                    )
                )
                continue
            if file in chain:
                problems.append(
                    Problem(
                        where,
                        f'workflow "{name}" enqueues itself (directly or through another)',
                        "legato embeds the enqueued workflow when the job is accepted",
                    )
                )
                continue
            piece, found = compile_root(file, (*chain, file))
            errors = [p for p in found if p.severity == "error"]
            for problem in errors[:20]:
                where_in = f"{problem.path}: " if problem.path else ""
                problems.append(
                    Problem(where, f'enqueued workflow "{name}": {where_in}{problem.message}')
                )
            if piece is not None and not errors:
                out[name] = piece
    return out, problems
