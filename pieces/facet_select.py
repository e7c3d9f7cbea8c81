"""``dynamic_facets``: a selector adds facet-pool candidates to a step before Phase 1.

On every run of the step (TAKT v0.60, ``dynamicFacetSelectorCoordinator.ts``) a
read-only selector sees the task, the step's own prompt parts, the reports written so
far, the changed files and the pool's candidates, and picks at most ``max_selected``
of them; none is a valid answer (only the step's own facets apply). The chosen
candidates' policies and knowledge join the step's own: the step's first, then the
candidates' in pool order, each text once. An answer that breaks the contract aborts
the run as a runtime error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pieces.dynamic import report_paths
from pieces.exchange import Answer, Call, find
from pieces.model import FacetPool, Movement, Piece
from pieces.selection import (
    SelectionInvalid,
    listing,
    parse_selection,
    selector_call,
    selector_opening,
)

FACET_SELECT = "facet_select"
SYSTEM = (
    "You are legato's dynamic facet selector. Choose only candidate ids from the pool "
    "you are given."
)
JOIN = "\n\n---\n\n"


def _target_prompt(movement: Movement) -> str:
    parts = [f"Persona:\n{movement.persona}"] if movement.persona else []
    parts += [
        f"Policy:\n{JOIN.join(movement.policies) or '(none)'}",
        f"Knowledge:\n{JOIN.join(movement.knowledge) or '(none)'}",
        f"Instruction:\n{movement.instruction}",
    ]
    return "\n\n".join(parts)


def selector_prompt(
    piece: Piece,
    movement: Movement,
    pool: FacetPool,
    *,
    task: str,
    iteration: int,
    report_dir: str,
    reports: Sequence[str],
    changed: Sequence[str],
    previous: Mapping[str, Any] | None,
) -> str:
    facets = movement.dynamic_facets
    assert facets is not None
    step = piece.words[1].capitalize()
    out = selector_opening(
        "the facet candidates this step needs", facets.selector_instruction, task
    )
    out += [
        "",
        f"{piece.words[0].capitalize()}:\n{piece.name}",
        f"{step}:\n{movement.name}",
        f"Entry type:\n{'initial entry' if previous is None else 're-entry'}",
    ]
    if previous is not None:
        out += [
            "",
            "Previous selection:",
            f"selected_ids:\n{listing(previous.get('selected_ids') or [])}",
            f"rationale:\n{previous.get('rationale') or ''}",
        ]
    out += [
        f"{step} iteration:\n{iteration}",
        "",
        f"Report Directory:\n{report_dir.rstrip('/')}",
        "",
        f"Reports to inspect (read them with your tools):\n{listing(reports)}",
        "",
        f"Changed file paths:\n{listing(changed)}",
        "",
        f"Target agent prompt:\n{_target_prompt(movement)}",
        "",
        "Candidates:",
        *[f"- {c.id}: {c.description}" for c in pool.candidates],
        "",
        f"Max selected:\n{facets.max_selected if facets.max_selected is not None else 'unlimited'}",
    ]
    return "\n".join(out)


def merged(movement: Movement, pool: FacetPool, chosen: Sequence[str]) -> Movement:
    """The step with the chosen candidates' facets after its own, each text once."""
    policies, knowledge = list(movement.policies), list(movement.knowledge)
    for candidate in pool.candidates:
        if candidate.id not in chosen:
            continue
        policies += [p for p in candidate.policies if p not in policies]
        knowledge += [k for k in candidate.knowledge if k not in knowledge]
    if policies == movement.policies and knowledge == movement.knowledge:
        return movement
    return movement.model_copy(update={"policies": policies, "knowledge": knowledge})


def choose_facets(
    piece: Piece,
    movement: Movement,
    answers: Sequence[Answer],
    *,
    task: str,
    iteration: int,
    report_dir: str,
    reports: Mapping[str, str],
    changed: Sequence[str],
    previous: Mapping[str, Any] | None,
) -> Call | Movement | str:
    """The selector call, the step with its chosen facets, or why the run must stop."""
    facets = movement.dynamic_facets
    if facets is None:
        return movement
    where = f'Dynamic facet selector for {piece.words[1]} "{movement.name}"'
    pool = piece.facet_pools.get(facets.pool)
    if pool is None:
        return f'{where}: unknown facet pool "{facets.pool}"'
    ids = [c.id for c in pool.candidates]
    answer = find(list(answers), FACET_SELECT)
    if answer is None:
        prompt = selector_prompt(
            piece,
            movement,
            pool,
            task=task,
            iteration=iteration,
            report_dir=report_dir,
            reports=report_paths(piece, report_dir, reports),
            changed=changed,
            previous=previous,
        )
        return selector_call(
            FACET_SELECT,
            prompt,
            SYSTEM,
            ids,
            persona=facets.selector_persona,
            max_selected=facets.max_selected,
        )
    try:
        chosen, _ = parse_selection(answer, ids, facets.max_selected)
    except SelectionInvalid as exc:
        return f"{where} failed: {exc}"
    return merged(movement, pool, chosen)
