"""The workflow state of TAKT v0.60 (``structured.<step>``, ``context.<step>``,
``effect.<step>``): how runs add to it, and how text reads from it.

A run adds to the state when it completes: an agent step with ``structured_output`` its
validated Phase 1 value (``{"structured": value}``), a system step its resolved inputs
and its effects' results (``{"context": {...}, "effect": {...}}``). The state a later
run sees is those contributions merged in run order, the last visit of a step winning,
as TAKT's maps are overwritten per step name (StepExecutor.ts:1369-1371,
SystemStepExecutor.ts:156-167). The worker stores each run's contribution with the run
and merges them when it claims the next one, so a redelivered run sees the same state.

Text reads the state in two places, both TAKT's:

* instructions: ``{context:step.path}`` (any value; non-scalars as indented JSON),
  ``{structured:…}`` and ``{effect:…}`` (scalars only) — instruction/escape.ts:42-55;
* effect arguments: a string that is exactly one reference becomes that value (a
  number, an object), any other string has its references replaced by scalars —
  SystemStepExecutor.ts:36-67.

A reference to state nobody produced is an error, never an empty string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pieces.workflow.when import WhenError, parse_ref, resolve_ref

ROOTS = ("structured", "context", "effect")
_PLACEHOLDER = re.compile(r"\{(context|structured|effect):([^}]+)\}")
_WHOLE = re.compile(r"^\{(?:context|structured|effect):.+\}$")


class StateError(ValueError):
    """Text names workflow state that does not exist (or that it cannot show)."""


def empty() -> dict[str, dict[str, Any]]:
    return {root: {} for root in ROOTS}


def merged(contributions: Iterable[tuple[str, Mapping[str, Any] | None]]) -> dict[str, Any]:
    """The state after runs ``(step name, contribution)`` in the order they completed."""
    state = empty()
    for name, part in contributions:
        for root in ROOTS:
            if part and root in part:
                state[root][name] = part[root]
    return state


def with_step(state: Mapping[str, Any], root: str, name: str, value: Any) -> dict[str, Any]:
    """A copy of ``state`` where ``<root>.<name>`` is ``value``."""
    out = {r: dict(state.get(r) or {}) for r in ROOTS}
    for key, extra in state.items():
        if key not in ROOTS:
            out[key] = extra
    out[root][name] = value
    return out


def lookup(root: str, reference: str, state: Mapping[str, Any]) -> Any:
    """The value ``{root:reference}`` names (``:`` inside the reference reads as ``.``)."""
    try:
        return resolve_ref(parse_ref(f"{root}.{reference.replace(':', '.')}"), state)
    except WhenError as exc:
        raise StateError(str(exc)) from exc


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as JavaScript's String(true) reads
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # String(2.0) is "2"
    return str(value)


def instruction_text(template: str, state: Mapping[str, Any], escape) -> str:
    """An instruction with its state placeholders filled in (``escape`` makes the
    inserted text safe from later placeholder replacement)."""
    if "{" not in template or not _PLACEHOLDER.search(template):
        return template

    def one(m: re.Match[str]) -> str:
        root, ref = m.group(1), m.group(2)
        value = lookup(root, ref, state)
        if _scalar(value):
            return escape(_text(value))
        if root != "context":
            raise StateError(f'Instruction interpolation requires scalar value for "{root}:{ref}"')
        return escape(json.dumps(value, indent=2, ensure_ascii=False))

    return _PLACEHOLDER.sub(one, template)


def argument(value: str, state: Mapping[str, Any]) -> Any:
    """One string argument of an effect, with its references resolved."""
    if _WHOLE.match(value):
        root, _, ref = value[1:-1].partition(":")
        return lookup(root, ref, state)

    def one(m: re.Match[str]) -> str:
        root, ref = m.group(1), m.group(2)
        found = lookup(root, ref, state)
        if not _scalar(found):
            raise StateError(f'Template interpolation requires scalar value for "{root}:{ref}"')
        return _text(found)

    return _PLACEHOLDER.sub(one, value)


def payload(effect: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """An effect's arguments as it runs: top-level strings resolved, the rest as written
    (TAKT resolves only the effect's own string fields)."""
    return {
        key: argument(value, state) if isinstance(value, str) else value
        for key, value in effect.items()
    }
