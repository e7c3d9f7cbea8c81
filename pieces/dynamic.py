"""Dynamic parallel steps (``parallel: {fixed, pool, selection}``): who takes part.

On every visit of the step (TAKT v0.60, ``selector-coordinator.ts``) a read-only
selector picks pool members from their descriptions, the reports the workflow has
written and the files the job changed. The participants are the fixed members in
order, then the chosen pool members in pool order; an empty set, or an answer that
breaks the contract, aborts the run as a runtime error. ``mode: cumulative`` adds the
previous visit's choice (of this attempt) to this one's.

A static parallel step takes part whole. Either way the result is a `Fanout`: the
worker starts the members, at most ``concurrency`` at once, and the parent waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pieces.exchange import Answer, Call, find
from pieces.model import Movement, Piece
from pieces.selection import (
    SelectionInvalid,
    listing,
    parse_selection,
    selector_call,
    selector_opening,
)

PARALLEL_SELECT = "parallel_select"
SYSTEM = (
    "You are legato's dynamic parallel selector. Choose only candidate ids from the pool "
    "you are given."
)


@dataclass(frozen=True)
class Fanout:
    """A parallel step's members are decided; the worker starts them and waits."""

    members: tuple[str, ...]
    selected: tuple[str, ...] = ()  # the pool members chosen (a dynamic step)
    rationale: str = ""


def report_paths(
    piece: Piece, report_dir: str, written: Mapping[str, str], extra: Sequence[str] = ()
) -> list[str]:
    """The reports a selector may read: ``extra`` and every report the workflow's steps
    produce, those written so far in this attempt, as paths in the report directory."""
    names: list[str] = list(extra)
    for movement in piece.all_movements():
        names += [c.name for c in movement.output_contracts]
    seen: list[str] = []
    for name in names:
        if name in written and name not in seen:
            seen.append(name)
    base = report_dir.rstrip("/")
    return [f"{base}/{name}" for name in seen]


def selector_prompt(
    movement: Movement,
    *,
    task: str,
    report_dir: str,
    reports: Sequence[str],
    changed: Sequence[str],
    previous: Sequence[str] | None,
) -> str:
    dynamic = movement.dynamic
    assert dynamic is not None
    out = selector_opening("the pool members this task needs", dynamic.selector_instruction, task)
    out += [
        "",
        f"Report Directory:\n{report_dir.rstrip('/')}",
        "",
        f"Reports to inspect (read them with your tools):\n{listing(reports)}",
        "",
        f"Changed file paths:\n{listing(changed)}",
    ]
    if dynamic.mode == "cumulative":
        chosen = ", ".join(previous or ()) or "(none)"
        out += ["", f"Previously selected pool ids:\n{chosen}"]
    entry = "initial entry" if previous is None else "re-entry after a prior round"
    out += ["", f"Entry type:\n{entry}", "", "Candidates:"]
    out += [f"- {name}: {dynamic.pool_descriptions.get(name, '')}" for name in dynamic.pool]
    return "\n".join(out)


def choose(
    piece: Piece,
    movement: Movement,
    answers: Sequence[Answer],
    *,
    task: str,
    report_dir: str,
    reports: Mapping[str, str],
    changed: Sequence[str],
    previous: Mapping[str, Any] | None,
) -> Call | Fanout | str:
    """The selector call, the members, or why the step cannot run (a message)."""
    dynamic = movement.dynamic
    if dynamic is None:
        return Fanout(tuple(m.name for m in movement.parallel))
    earlier = list((previous or {}).get("selected") or []) if previous is not None else None
    answer = find(list(answers), PARALLEL_SELECT)
    if answer is None:
        prompt = selector_prompt(
            movement,
            task=task,
            report_dir=report_dir,
            reports=report_paths(piece, report_dir, reports, dynamic.reports),
            changed=changed,
            previous=earlier,
        )
        return selector_call(
            PARALLEL_SELECT,
            prompt,
            SYSTEM,
            dynamic.pool,
            persona=dynamic.selector_persona,
        )
    try:
        chosen, rationale = parse_selection(answer, dynamic.pool)
    except SelectionInvalid as exc:
        return f'Dynamic parallel selector for {piece.words[1]} "{movement.name}" failed: {exc}'
    wanted = set(chosen)
    if dynamic.mode == "cumulative":
        wanted |= set(earlier or ())
    selected = tuple(name for name in dynamic.pool if name in wanted)
    members = (*dynamic.fixed, *selected)
    if not members:
        return (
            f'Dynamic parallel selector for {piece.words[1]} "{movement.name}" chose no '
            "member, and the step has no fixed member"
        )
    return Fanout(members, selected, rationale)
