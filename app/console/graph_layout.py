"""A small layered layout for piece graphs (pure: graph dict in, SVG geometry out).

Layers come from a breadth-first walk from the initial movement, so the usual path
reads top to bottom; movements the walk never reaches go below it, and COMPLETE and
ABORT sit in the last layer. Edges that go down are drawn as curves between layers;
edges that go back up (review ↔ fix loops) or stay in a layer are routed around the
right-hand side so they never cross a node. Good enough for pieces of a few dozen
movements, which is what pieces are.
"""

from __future__ import annotations

from collections import deque
from typing import Any

NODE_W, NODE_H, MEMBER_H = 168, 40, 18
LAYER_GAP, NODE_GAP, MARGIN = 64, 28, 24
LOOP_STEP = 18
LABEL_CHARS = 26


def layout(graph: dict[str, Any]) -> dict[str, Any]:
    nodes = {n["name"]: dict(n) for n in graph["nodes"]}
    edges = _merged(graph["edges"])
    terminals = [t for t in ("COMPLETE", "ABORT") if any(e["to"] == t for e in edges)]
    layers = _layers(graph.get("initial"), list(nodes), edges)
    if terminals:
        last = max(layers.values(), default=-1) + 1
        for t in terminals:
            nodes[t] = {"name": t, "kind": "terminal", "members": [], "description": None}
            layers[t] = last
    rows: dict[int, list[str]] = {}
    for name in nodes:  # insertion order keeps file order within a layer
        rows.setdefault(layers[name], []).append(name)
    width = max((len(r) for r in rows.values()), default=1) * (NODE_W + NODE_GAP) - NODE_GAP
    placed: dict[str, dict[str, Any]] = {}
    y = MARGIN
    for layer in sorted(rows):
        names = rows[layer]
        row_w = len(names) * (NODE_W + NODE_GAP) - NODE_GAP
        x = MARGIN + (width - row_w) / 2
        row_h = max(_height(nodes[n]) for n in names)
        for name in names:
            node = nodes[name]
            placed[name] = {
                **node,
                "x": x,
                "y": y,
                "w": NODE_W,
                "h": _height(node),
                "layer": layer,
                "terminal": node["kind"] == "terminal",
            }
            x += NODE_W + NODE_GAP
        y += row_h + LAYER_GAP
    out_edges = []
    loops = 0
    for edge in edges:
        a, b = placed.get(edge["from"]), placed.get(edge["to"])
        if a is None or b is None:
            continue
        if b["layer"] > a["layer"]:
            geometry = _down(a, b)
            if b["layer"] - a["layer"] > 1:  # it crosses other layers: its label would too
                geometry["quiet"] = True
        else:
            loops += 1
            geometry = _around(a, b, MARGIN + width + loops * LOOP_STEP)
        short = "" if geometry.pop("quiet", False) else _clip(edge["label"])
        out_edges.append({**edge, **geometry, "short": short})
    return {
        # Labels sit right of their edge (or lane): leave room for the longest.
        "width": MARGIN * 2 + width + (loops + 1) * LOOP_STEP + 6 * LABEL_CHARS,
        "height": y - LAYER_GAP + MARGIN,
        "nodes": list(placed.values()),
        "edges": out_edges,
    }


def _merged(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One edge per (from, to); several rules to the same place share it."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for e in edges:
        key = (e["from"], e["to"])
        if key in merged:
            merged[key]["label"] += " | " + e["label"]
        else:
            merged[key] = {"from": e["from"], "to": e["to"], "label": e["label"]}
    return list(merged.values())


def _layers(initial: str | None, names: list[str], edges: list[dict[str, Any]]) -> dict[str, int]:
    succ: dict[str, list[str]] = {n: [] for n in names}
    for e in edges:
        if e["from"] in succ and e["to"] in succ:
            succ[e["from"]].append(e["to"])
    layers: dict[str, int] = {}
    starts = ([initial] if initial in succ else []) + names
    for start in starts:
        if start in layers:
            continue
        layers[start] = max(layers.values(), default=-1) + 1 if layers else 0
        queue = deque([start])
        while queue:
            name = queue.popleft()
            for nxt in succ[name]:
                if nxt not in layers:
                    layers[nxt] = layers[name] + 1
                    queue.append(nxt)
    return layers


def _height(node: dict[str, Any]) -> int:
    return NODE_H + MEMBER_H * len(node.get("members") or [])


def _down(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    x1, y1 = a["x"] + a["w"] / 2, a["y"] + a["h"]
    x2, y2 = b["x"] + b["w"] / 2, b["y"]
    mid = (y1 + y2) / 2
    return {
        "path": f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2 - 2:.0f}",
        "lx": (x1 + x2) / 2 + 4,
        "ly": mid,
        "back": False,
    }


def _around(a: dict[str, Any], b: dict[str, Any], lane: float) -> dict[str, Any]:
    """A back edge (or a self-loop) out of a's right side and into b's right side."""
    x1, y1 = a["x"] + a["w"], a["y"] + a["h"] / 2
    x2, y2 = b["x"] + b["w"], b["y"] + b["h"] / 2
    if a is b:
        y1, y2 = a["y"] + a["h"] * 0.3, a["y"] + a["h"] * 0.7
    return {
        "path": (
            f"M{x1:.0f},{y1:.0f} C{lane:.0f},{y1:.0f} {lane:.0f},{y2:.0f} {x2 + 2:.0f},{y2:.0f}"
        ),
        "lx": lane + 4,
        "ly": (y1 + y2) / 2,
        "back": True,
    }


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= LABEL_CHARS else flat[: LABEL_CHARS - 1] + "…"
