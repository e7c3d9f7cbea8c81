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
    """Node count with aliases expanded; raises ValueError on cycles or above ``limit``."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ValueError("recursive YAML aliases are not supported")
        active.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise ValueError(f"the piece expands to more than {limit} YAML nodes")
        active.discard(key)
        sizes[key] = total
        return total

    return size(data)


def load_yaml(text: str) -> tuple[Any, list[Problem], bool]:
    """(data, problems, usable): ``usable`` is False when nothing further should look at data."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(exc)], False
    except RecursionError:
        return None, [Problem("", "the piece is nested too deeply")], False
    finally:
        loader.dispose()
    try:
        expanded_size(data)
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "the piece is nested too deeply"
        return None, [*loader.duplicates, Problem("", message)], False
    return data, loader.duplicates, True
