"""The piece graph (nodes, rule edges) and its layered layout, on the built-in pieces."""

from __future__ import annotations

import pytest

from app.console.graph_layout import layout
from app.piece_graph import piece_graph
from pieces import BUILTIN_DIR, PieceLibrary


def _piece(name: str):
    return PieceLibrary([BUILTIN_DIR]).load(name)


def test_demo_is_draft_review_with_a_loop_back():
    graph = piece_graph(_piece("demo"))
    assert graph["initial"] == "draft"
    assert [(n["name"], n["kind"]) for n in graph["nodes"]] == [
        ("draft", "movement"),
        ("review", "movement"),
    ]
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert ("draft", "review") in edges and ("review", "COMPLETE") in edges
    assert ("review", "draft") in edges  # "needs changes" goes back
    assert all(e["label"] for e in graph["edges"])


def test_parallel_movements_list_their_members_and_route_from_the_parent():
    graph = piece_graph(_piece("review"))
    parallel = [n for n in graph["nodes"] if n["kind"] == "parallel"]
    assert parallel and all(len(n["members"]) >= 2 for n in parallel)
    members = {m for n in parallel for m in n["members"]}
    # sub-movements route through the parent's all()/any() rules, not edges of their own
    assert not any(e["from"] in members for e in graph["edges"])


def test_loop_monitor_judges_add_labelled_edges():
    graph = piece_graph(_piece("default"))
    loop_edges = [e for e in graph["edges"] if e["label"].startswith("loop judge: ")]
    assert loop_edges and all(e["from"] == "fix" for e in loop_edges)


@pytest.mark.parametrize("name", ["demo", "default", "review", "research", "general"])
def test_layout_places_every_node_once_without_overlaps(name):
    graph = piece_graph(_piece(name))
    laid = layout(graph)
    names = [n["name"] for n in laid["nodes"]]
    assert len(names) == len(set(names))
    assert {n["name"] for n in graph["nodes"]} <= set(names)
    boxes = [(n["x"], n["y"], n["x"] + n["w"], n["y"] + n["h"]) for n in laid["nodes"]]
    for i, a in enumerate(boxes):
        assert a[0] >= 0 and a[2] <= laid["width"] and a[3] <= laid["height"]
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    by_name = {n["name"]: n for n in laid["nodes"]}
    assert by_name[graph["initial"]]["layer"] == 0
    terminals = [n for n in laid["nodes"] if n["terminal"]]
    assert all(t["layer"] == max(n["layer"] for n in laid["nodes"]) for t in terminals)
    for edge in laid["edges"]:
        down = by_name[edge["to"]]["layer"] > by_name[edge["from"]]["layer"]
        assert edge["back"] is not down
        assert edge["path"].startswith("M")


def test_rules_to_the_same_place_share_one_edge():
    graph = {
        "initial": "a",
        "nodes": [{"name": "a", "kind": "movement", "members": [], "description": None}],
        "edges": [
            {"from": "a", "to": "COMPLETE", "label": "done"},
            {"from": "a", "to": "COMPLETE", "label": "nothing to do"},
            {"from": "a", "to": "a", "label": "again"},
        ],
    }
    laid = layout(graph)
    [to_end] = [e for e in laid["edges"] if e["to"] == "COMPLETE"]
    assert to_end["label"] == "done | nothing to do"
    [self_loop] = [e for e in laid["edges"] if e["to"] == "a"]
    assert self_loop["back"] is True
