"""``capabilities:``: named tool sets from ``provider-options/<name>.yaml`` (TAKT v0.60).

A capability file maps a provider to capability leaves (``allowed_tools``,
``network_access``, ``sandbox``, ``skills``) and may ``extends:`` another set. legato's
tools carry Claude's names (Read, Glob, Grep, Edit, Write, Bash, WebSearch, WebFetch),
so a step's tools are the ``claude.allowed_tools`` of its sets; with several sets the
later one wins, as in TAKT. A set that grants no Claude tools leaves the step on its
agent's tools. The other providers' leaves are checked and otherwise ignored.

A step's own ``capabilities`` replace the workflow's default; a parallel step's
become its members' default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pieces.parse import at, describe
from pieces.problems import Problem
from pieces.workflow.keys import CAPABILITY_LEAVES
from pieces.workflow.resources import ResourceError, Resources

FOLDER = "provider-options"
MAX_EXTENDS = 8


class CapabilityError(ValueError):
    pass


def _load(res: Resources, name: str, seen: tuple[Path, ...]) -> list[str] | None:
    """The Claude tools of one set (None: it grants none), following ``extends``."""
    try:
        path = res.find(FOLDER, name, (".yaml", ".yml"))
    except ResourceError as exc:
        raise CapabilityError(f'capabilities "{name}": {exc}') from None
    if path is None:
        raise CapabilityError(f'unknown capabilities "{name}" (searched: {res.searched(FOLDER)})')
    if path in seen or len(seen) > MAX_EXTENDS:
        raise CapabilityError(f'capabilities "{name}" extends itself')
    try:
        data = res.cache.yaml(path)
    except ResourceError as exc:
        raise CapabilityError(f'capabilities "{name}": {exc}') from None
    if not isinstance(data, dict):
        raise CapabilityError(f'capabilities "{name}" must be a mapping of provider to options')
    tools: list[str] | None = None
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str) or not parent:
            raise CapabilityError(f'capabilities "{name}": extends must name a capability set')
        tools = _load(res, parent, (*seen, path))
    for provider, options in data.items():
        if provider == "extends":
            continue
        if not isinstance(options, dict):
            raise CapabilityError(
                f'capabilities "{name}": "{provider}" must be a mapping, got {describe(options)}'
            )
        for leaf in options:
            if leaf not in CAPABILITY_LEAVES:
                raise CapabilityError(
                    f'capabilities "{name}" may only grant {", ".join(sorted(CAPABILITY_LEAVES))}, '
                    f'but "{provider}.{leaf}" is not one of them'
                )
        granted = options.get("allowed_tools")
        if granted is not None and provider == "claude":
            if not isinstance(granted, list) or not all(isinstance(t, str) for t in granted):
                raise CapabilityError(f'capabilities "{name}": allowed_tools must list tool names')
            tools = list(granted)
    return tools


def names_of(value: Any, path: str, problems: list[Problem]) -> list[str] | None:
    """The set names a ``capabilities:`` value gives (one name or a non-empty list)."""
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]
    problems.append(
        Problem(path, f"expected a capability set name or a list of them, got {describe(value)}")
    )
    return None


def resolve(
    value: Any, res: Resources, path: str, problems: list[Problem]
) -> tuple[list[str], list[str]] | None:
    """(names, tools) for a ``capabilities:`` value; None after reporting a problem."""
    names = names_of(value, path, problems)
    if names is None:
        return None
    tools: list[str] | None = None
    for i, name in enumerate(names):
        where = at(path, i) if isinstance(value, list) else path
        try:
            found = _load(res, name, ())
        except CapabilityError as exc:
            problems.append(Problem(where, str(exc)))
            return None
        if found is not None:
            tools = found
    return names, tools or []
