"""A piece as a graph of movements and rule edges (pure: a resolved Piece in, a dict out).

`GET /api/jobs/{id}/piece` and the console's piece views draw this. Nodes are the
top-level movements in file order (a parallel movement lists its sub-movements as
members); edges are the rules that route somewhere, labelled with their condition.
`COMPLETE` and `ABORT` appear only as edge targets. A loop monitor's judge adds
edges from the last movement of its cycle, labelled as loop-judge rules.
"""

from __future__ import annotations

from typing import Any

from pieces.model import Movement, Piece

TERMINALS = ("COMPLETE", "ABORT")


def piece_graph(piece: Piece) -> dict[str, Any]:
    nodes = [_node(mv) for mv in piece.movements]
    edges: list[dict[str, Any]] = []
    for mv in piece.movements:
        for rule in mv.rules:
            if rule.next:
                edges.append({"from": mv.name, "to": rule.next, "label": rule.condition})
    for monitor in piece.loop_monitors:
        if not monitor.cycle or monitor.judge is None:
            continue
        last = monitor.cycle[-1]
        for rule in monitor.judge.rules:
            if rule.next:
                edges.append(
                    {"from": last, "to": rule.next, "label": f"loop judge: {rule.condition}"}
                )
    return {
        "name": piece.name,
        "format": piece.dialect,
        "initial": piece.initial_movement,
        "description": piece.description,
        "nodes": nodes,
        "edges": edges,
    }


def _node(mv: Movement) -> dict[str, Any]:
    kind = "movement" if mv.kind == "agent" else mv.kind
    return {
        "name": mv.name,
        "kind": kind,
        "members": [sub.name for sub in mv.parallel],
        "description": _describe(mv),
    }


def _describe(mv: Movement) -> str | None:
    parts = []
    if mv.persona_name:
        parts.append(f"persona {mv.persona_name}")
    if mv.tier:
        parts.append(f"tier {mv.tier}")
    if mv.agent:
        parts.append(f"agent {mv.agent}")
    if mv.output_contracts:
        parts.append("reports " + ", ".join(c.name for c in mv.output_contracts))
    return "; ".join(parts) or None
