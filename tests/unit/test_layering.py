"""DESIGN.md's dependency rules, read from the source: who may import whom, and no cycles.

Every import counts, including the ones inside functions: a late import that hides a
cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pieces", "agents", "app", "tasks", "swarm")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        # `from a.b import c` names module a.b.c when it exists, else a.b's attribute c.
        edges[name] = {target for target in _imports(path) if target in modules} - {name}
    return edges


RULES = {
    "pieces": ("pieces",),
    "agents": ("agents", "pieces"),
    "swarm": ("swarm",),
    "app": ("app", "pieces", "swarm", "agents"),
    "tasks": ("tasks", "app", "pieces", "agents", "swarm"),
}


@pytest.mark.parametrize("package", sorted(RULES))
def test_each_package_imports_only_what_design_allows(graph, package):
    allowed = RULES[package]
    wrong = {
        f"{source} -> {target}"
        for source, targets in graph.items()
        if source.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in allowed
    }
    assert wrong == set()


def test_the_cli_and_the_api_never_import_the_engine(graph):
    # app/ never imports tasks/ (checked above); the web process publishes by task name.
    assert not {
        s
        for s, ts in graph.items()
        if s.startswith("app.") and any(t.startswith("tasks") for t in ts)
    }


def test_no_import_cycles(graph):
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
