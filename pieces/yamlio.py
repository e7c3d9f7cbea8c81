"""Reading piece YAML safely: syntax errors located, duplicate keys noticed, aliases bounded.

Pieces arrive over the API, so the text is untrusted. Aliases are legitimate (shared tool
lists), but a few nested aliases can expand to billions of nodes or refer to themselves;
both are refused before anything walks the data.
"""

from __future__ import annotations

from typing import Any

import yaml

from pieces.problems import Problem

MAX_NODES = 50_000
# Far below both libyaml's own nesting limit and Python's recursion limit, so a deep
# piece is refused by our check, with our message, whichever YAML parser runs.
MAX_DEPTH = 100
TOO_DEEP = f"the piece is nested too deeply (more than {MAX_DEPTH} levels)"
_OPEN = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
# libyaml's parser when PyYAML was built with it (about ten times faster); construction,
# and so the duplicate-key check below, stays in Python either way.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader that records duplicate mapping keys instead of silently keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key; construct_mapping reports it below
                continue
            if duplicate:
                mark = key_node.start_mark
                self.duplicates.append(
                    Problem(
                        f"line {mark.line + 1}, column {mark.column + 1}",
                        f'duplicate key "{key}"',
                        "the last one wins",
                        "warning",
                    )
                )
        return super().construct_mapping(node, deep=deep)


def _syntax_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return Problem(where, f"invalid YAML: {what}")


def expanded_size(data: Any, limit: int = MAX_NODES) -> int:
    """Node count with aliases expanded; raises ValueError on cycles, above ``limit`` nodes
    or deeper than MAX_DEPTH (aliases included: a shared subtree counts at every depth)."""
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> tuple[int, int]:
        if not isinstance(node, dict | list):
            return 1, 0
        if depth > MAX_DEPTH:
            raise ValueError(TOO_DEEP)
        key = id(node)
        if key not in sizes:
            if key in active:
                raise ValueError("recursive YAML aliases are not supported")
            active.add(key)
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            total, height = 1, 1
            for child in children:
                child_total, child_height = size(child, depth + 1)
                total += child_total
                height = max(height, child_height + 1)
                if total > limit:
                    raise ValueError(f"the piece expands to more than {limit} YAML nodes")
            active.discard(key)
            sizes[key] = total, height
        total, height = sizes[key]
        if depth + height - 1 > MAX_DEPTH:
            raise ValueError(TOO_DEEP)
        return total, height

    return size(data, 1)[0]


def _too_deep(text: str) -> yaml.Mark | None:
    """Where ``text`` first nests deeper than MAX_DEPTH, else None.

    Run only after a parse failed: libyaml refuses deep nesting itself, with its own
    words, so this tells a nesting failure from a syntax error. The pure-Python scanner
    has no nesting limit of its own and stops at the first syntax error.
    """
    depth = 0
    try:
        # (The pure-Python reader refuses some text in its constructor already.)
        scanner = yaml.SafeLoader(text)
    except yaml.YAMLError:
        return None
    try:
        while scanner.check_token():
            token = scanner.get_token()
            if isinstance(token, _OPEN):
                depth += 1
                if depth > MAX_DEPTH:
                    return token.start_mark
            elif isinstance(token, _CLOSE):
                depth -= 1
    except yaml.YAMLError:
        return None
    finally:
        scanner.dispose()
    return None


def load_yaml(text: str) -> tuple[Any, list[Problem], bool]:
    """(data, problems, usable): ``usable`` is False when nothing further should look at data."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except (yaml.YAMLError, RecursionError) as exc:
        mark = _too_deep(text)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}"
            return None, [Problem(where, TOO_DEEP)], False
        if isinstance(exc, RecursionError):
            return None, [Problem("", TOO_DEEP)], False
        return None, [_syntax_problem(exc)], False
    finally:
        loader.dispose()
    try:
        expanded_size(data)
    except ValueError as exc:
        return None, [*loader.duplicates, Problem("", str(exc))], False
    return data, loader.duplicates, True
