"""The ``when(…)`` expression language of TAKT v0.60 (SEMANTICS.md §3.3): parse and evaluate.

    EXPR   := ALT ('||' ALT)*          ALT := CLAUSE ('&&' CLAUSE)*
    CLAUSE := true | false | exists(REF, PRED && …) | contains(LIST, OPND)
            | OPND OP OPND | REF       OP  := >= <= != == > <  (the first one found)
    OPND   := true | false | null | number | "string" | REF | item.<path> (in exists)
    REF    := context.<step>.<path> | structured.<step>.<path>
            | effect.<step>.<type>.<field>[.<path>] | companion.<path>

Evaluation reads a state mapping ``{"context": {step: …}, "structured": {step: …},
"effect": {step: {type: …}}, "companion": …}``. It is strict the way TAKT is: ``==`` and
``!=`` never convert (``true`` is not ``1``), ordering needs numbers, and a reference to
state that does not exist raises ``WhenError`` instead of reading as false: a workflow
that routes on a value nobody produced is broken, and the run must say so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pieces.workflow.syntax import (
    balanced,
    closing_paren,
    escaped,
    split_top_level,
    strings_closed,
    top_level,
)

ROOTS = ("context", "structured", "effect", "companion")
OPERATORS = (">=", "<=", "!=", "==", ">", "<")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_BARE = re.compile(r"^[^\s(),<>=!&|\"']+$")
_DIGITS = re.compile(r"^\d+$")
_REF_CHAR = re.compile(r"[A-Za-z0-9_.]")


class WhenError(ValueError):
    """A malformed expression (at load time) or unusable state (at run time)."""


@dataclass(frozen=True)
class Ref:
    """A parsed state reference: root, step scope (None for companion) and path."""

    text: str
    root: str
    scope: str | None
    path: tuple[str, ...]


@dataclass(frozen=True)
class Operand:
    kind: Literal["literal", "state", "item"]
    raw: str
    value: Any = None  # literal value
    ref: Ref | None = None  # state reference
    item_path: tuple[str, ...] = ()  # item.<path>


@dataclass(frozen=True)
class Clause:
    kind: Literal["boolean", "operand", "comparison", "exists", "contains"]
    value: bool = False  # boolean
    operator: str = ""  # comparison
    left: Operand | None = None  # comparison; operand; contains: the list
    right: Operand | None = None  # comparison; contains: the value
    predicates: tuple[Clause, ...] = ()  # exists (comparisons with ==, or contains)


@dataclass(frozen=True)
class WhenExpr:
    text: str
    alternatives: tuple[tuple[Clause, ...], ...]


# --- references -------------------------------------------------------------------------


def _expand_segment(token: str, reference: str) -> list[str]:
    parts: list[str] = []
    rest = token
    while rest:
        bracket = rest.find("[")
        if bracket < 0:
            parts.append(rest)
            break
        if bracket > 0:
            parts.append(rest[:bracket])
        close = rest.find("]", bracket)
        if close < 0 or not _DIGITS.match(rest[bracket + 1 : close]):
            raise WhenError(f'invalid workflow state reference "{reference}"')
        parts.append(rest[bracket + 1 : close])
        rest = rest[close + 1 :]
        if rest and not rest.startswith("["):
            raise WhenError(f'invalid workflow state reference "{reference}"')
    return parts


def _path(reference: str, segments: Sequence[str]) -> tuple[str, ...]:
    if any(not s for s in segments):
        raise WhenError(f'invalid workflow state reference "{reference}"')
    return tuple(p for s in segments for p in _expand_segment(s, reference))


def parse_ref(reference: str) -> Ref:
    segments = reference.split(".")
    if len(segments) < 2:
        raise WhenError(f'invalid workflow state reference "{reference}"')
    root, scope, rest = segments[0], segments[1], segments[2:]
    if root not in ROOTS:
        raise WhenError(f'unsupported workflow state root "{root}"')
    if root == "companion":
        return Ref(reference, root, None, _path(reference, segments[1:]))
    if not scope:
        raise WhenError(f'invalid workflow state reference "{reference}"')
    path = _path(reference, rest)
    if root == "effect" and len(rest) < 2:
        raise WhenError(
            f'effect references must use "effect.<step>.<type>.<field>" format: "{reference}"'
        )
    return Ref(reference, root, scope, path)


# --- parsing ----------------------------------------------------------------------------


def _quoted(value: str, operand: str) -> Operand:
    out, i = [], 1
    while i < len(value) - 1:
        ch = value[i]
        if ch == '"':
            raise WhenError(f'invalid when operand "{operand}"')
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt not in ('"', "\\"):
            raise WhenError(f'invalid escape sequence in when operand "{operand}"')
        out.append(nxt)
        i += 2
    return Operand("literal", value, value="".join(out))


def _operand(text: str, *, in_exists: bool) -> Operand:
    value = text.strip()
    if not value:
        raise WhenError(f'invalid when operand "{text}"')
    if value in ("true", "false"):
        return Operand("literal", value, value=value == "true")
    if value == "null":
        return Operand("literal", value, value=None)
    if _NUMBER.match(value):
        number = float(value) if "." in value else int(value)
        return Operand("literal", value, value=number)
    if value.startswith('"') and value.endswith('"'):
        return _quoted(value, text)
    if not _BARE.match(value):
        raise WhenError(f'invalid when operand "{text}"')
    if value.startswith(tuple(f"{root}." for root in ROOTS)):
        return Operand("state", value, ref=parse_ref(value))
    if in_exists and value.startswith("item."):
        path = tuple(value[len("item.") :].split("."))
        if any(not p for p in path):
            raise WhenError(f'invalid exists() operand "{text}"')
        return Operand("item", value, item_path=path)
    raise WhenError(f'unsupported when operand "{value}"')


def _path_bearing(operand: Operand, subject: str) -> None:
    if operand.kind == "state" and operand.ref is not None and not operand.ref.path:
        raise WhenError(
            f'{subject} requires a path-bearing workflow state reference: "{operand.raw}"'
        )


_OPERATOR_SCAN = re.compile(r'["()]|>=|<=|!=|==|>|<')
_ARGS_SCAN = re.compile(r'["(),]')


def _find_operator(text: str) -> tuple[str, int] | None:
    """The first comparison operator outside strings and parentheses (``>=`` before ``>``)."""
    for token, i, depth in top_level(text, _OPERATOR_SCAN):
        if token not in "()" and depth == 0:
            return token, i
    return None


def _two_args(args: str, function: str) -> tuple[str, str]:
    comma, depth = -1, 0
    for token, i, depth in top_level(args, _ARGS_SCAN):
        if depth < 0:
            raise WhenError(f'invalid {function}() expression "{args}"')
        if token == "," and depth == 0:
            if comma >= 0:
                raise WhenError(f"{function}() requires exactly two arguments")
            comma = i
    if depth != 0 or comma < 0 or not strings_closed(args):
        raise WhenError(f'invalid {function}() expression "{args}"')
    first, second = args[:comma].strip(), args[comma + 1 :].strip()
    if not first or not second:
        raise WhenError(f"{function}() requires exactly two arguments")
    return first, second


def _comparison(text: str, *, in_exists: bool) -> Clause:
    found = _find_operator(text)
    if found is None:
        raise WhenError(f'invalid when clause "{text}"')
    op, index = found
    left = _operand(text[:index], in_exists=in_exists)
    right = _operand(text[index + len(op) :], in_exists=in_exists)
    if op in (">", "<", ">=", "<="):
        for side in (left, right):
            if side.kind == "literal" and (
                isinstance(side.value, bool) or not isinstance(side.value, int | float)
            ):
                raise WhenError(f'operator "{op}" requires numeric operands: "{text}"')
    return Clause("comparison", operator=op, left=left, right=right)


def _call_args(text: str, function: str) -> str:
    if closing_paren(text, len(function)) != len(text) - 1:
        raise WhenError(f'invalid {function}() clause "{text}"')
    return text[len(function) + 1 : -1]


def _contains(text: str, *, in_exists: bool) -> Clause:
    first, second = _two_args(_call_args(text, "contains"), "contains")
    target = _operand(first, in_exists=in_exists)
    if target.kind == "literal":
        raise WhenError(f'contains() requires a workflow state reference: "{first}"')
    _path_bearing(target, "contains()")
    return Clause("contains", left=target, right=_operand(second, in_exists=in_exists))


def _exists(text: str) -> Clause:
    first, predicate_text = _two_args(_call_args(text, "exists"), "exists")
    target = _operand(first, in_exists=False)
    if target.kind != "state":
        raise WhenError(f'exists() requires a workflow state reference: "{first}"')
    _path_bearing(target, "exists()")
    predicates = []
    for part in _clauses(predicate_text, "&&", "exists() predicate"):
        if part.startswith("contains("):
            predicates.append(_contains(part, in_exists=True))
            continue
        comparison = _comparison(part, in_exists=True)
        if comparison.operator != "==":
            raise WhenError(
                f'exists() only supports "==", "contains()", and "&&": "{predicate_text}"'
            )
        predicates.append(comparison)
    return Clause("exists", left=target, predicates=tuple(predicates))


def _clause(text: str) -> Clause:
    text = text.strip()
    if text in ("true", "false"):
        return Clause("boolean", value=text == "true")
    if text.startswith("exists("):
        return _exists(text)
    if text.startswith("contains("):
        return _contains(text, in_exists=False)
    if _find_operator(text) is not None:
        return _comparison(text, in_exists=False)
    operand = _operand(text, in_exists=False)
    if operand.kind != "state":
        raise WhenError(f'bare when clause must be boolean or a workflow state reference: "{text}"')
    _path_bearing(operand, "bare when clause")
    return Clause("operand", left=operand)


def _clauses(text: str, separator: str, subject: str) -> list[str]:
    parts = split_top_level(text, separator)
    if any(not p for p in parts):
        raise WhenError(f'{subject} "{text}" contains an empty clause')
    return parts


def parse_when(expression: str) -> WhenExpr:
    """Parse an expression (without the ``when(…)`` around it); raises WhenError."""
    if len(expression) <= 512:
        return _parse_cached(expression)
    return _parse(expression)


@lru_cache(maxsize=2048)
def _parse_cached(expression: str) -> WhenExpr:
    return _parse(expression)


def _parse(expression: str) -> WhenExpr:
    if not balanced(expression):
        raise WhenError(f'invalid when expression "{expression}"')
    alternatives = tuple(
        tuple(_clause(c) for c in _clauses(alt, "&&", "when expression"))
        for alt in _clauses(expression, "||", "when expression")
    )
    return WhenExpr(expression, alternatives)


def references_root(expression: str, root: str) -> bool:
    """Whether ``root`` appears as an unquoted, whole reference (e.g. ``companion.x``)."""
    in_string = False
    size = len(root)
    for i, ch in enumerate(expression):
        if ch == '"' and not escaped(expression, i):
            in_string = not in_string
            continue
        if in_string or not expression.startswith(root, i):
            continue
        before = expression[i - 1] if i > 0 else ""
        after = expression[i + size] if i + size < len(expression) else ""
        if (not before or not _REF_CHAR.match(before)) and (
            after == "." or not after or not _REF_CHAR.match(after)
        ):
            return True
    return False


# --- evaluation -------------------------------------------------------------------------


def _missing(reference: str) -> WhenError:
    return WhenError(f'Missing workflow state value "{reference}"')


def _array_step(items: list, key: str, reference: str) -> Any:
    if key == "length":
        return len(items)
    if _DIGITS.match(key):
        index = int(key)
        if index >= len(items):
            raise _missing(reference)
        return items[index]
    out = []
    for item in items:
        if not isinstance(item, dict) or key not in item:
            raise _missing(reference)
        out.append(item[key])
    return out


def resolve_ref(ref: Ref, state: Mapping[str, Any]) -> Any:
    """The value a reference names; WhenError when the state does not hold it."""
    if ref.root == "companion":
        current = state.get("companion")
        if current is None:
            raise WhenError("Missing workflow companion state")
    else:
        scopes = state.get(ref.root) or {}
        current = scopes.get(ref.scope) if isinstance(scopes, Mapping) else None
        if current is None:
            raise WhenError(f'Missing workflow state scope "{ref.scope}" in {ref.root}')
    for key in ref.path:
        if isinstance(current, list):
            current = _array_step(current, key, ref.text)
        elif isinstance(current, Mapping) and key in current:
            current = current[key]
        else:
            raise _missing(ref.text)
    if isinstance(current, list):
        # A fresh copy, as TAKT hands out: it is never identical to anything else.
        return [dict(i) if isinstance(i, Mapping) else i for i in current]
    return current


def _item_value(operand: Operand, item: Any) -> Any:
    current = item
    for key in operand.item_path:
        if not isinstance(current, Mapping) or key not in current:
            raise WhenError(f'unsupported exists() operand "{operand.raw}"')
        current = current[key]
    return current


def _value(operand: Operand, state: Mapping[str, Any], item: Any = None, in_item=False) -> Any:
    if operand.kind == "literal":
        return operand.value
    if operand.kind == "state":
        assert operand.ref is not None
        return resolve_ref(operand.ref, state)
    if not in_item:
        raise WhenError(f'unsupported exists() operand "{operand.raw}"')
    return _item_value(operand, item)


def strict_equal(left: Any, right: Any) -> bool:
    """JavaScript's ``===`` over JSON values: no conversions, objects by identity."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) or isinstance(right, int | float):
        return isinstance(left, int | float) and isinstance(right, int | float) and left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is None and right is None
    return left is right


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _contains_holds(clause: Clause, state: Mapping[str, Any], item: Any, in_item: bool) -> bool:
    assert clause.left is not None and clause.right is not None
    items = _value(clause.left, state, item, in_item)
    if not isinstance(items, list):
        raise WhenError(f'contains() requires an array expression: "{clause.left.raw}"')
    wanted = _value(clause.right, state, item, in_item)
    return any(strict_equal(candidate, wanted) for candidate in items)


def _holds(clause: Clause, state: Mapping[str, Any]) -> bool:
    if clause.kind == "boolean":
        return clause.value
    if clause.kind == "contains":
        return _contains_holds(clause, state, None, False)
    if clause.kind == "exists":
        assert clause.left is not None
        items = _value(clause.left, state)
        if not isinstance(items, list):
            raise WhenError(f'exists() requires an array expression: "{clause.left.raw}"')
        return any(all(_predicate(p, state, item) for p in clause.predicates) for item in items)
    if clause.kind == "operand":
        assert clause.left is not None
        value = _value(clause.left, state)
        if not isinstance(value, bool):
            raise WhenError(f'bare when clause must resolve to boolean: "{clause.left.raw}"')
        return value
    assert clause.left is not None and clause.right is not None
    left, right = _value(clause.left, state), _value(clause.right, state)
    op = clause.operator
    if op == "==":
        return strict_equal(left, right)
    if op == "!=":
        return not strict_equal(left, right)
    if not (_number(left) and _number(right)):
        raise WhenError(
            f'operator "{op}" requires numeric operands: '
            f'"{clause.left.raw} {op} {clause.right.raw}"'
        )
    return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]


def _predicate(clause: Clause, state: Mapping[str, Any], item: Any) -> bool:
    if clause.kind == "contains":
        return _contains_holds(clause, state, item, True)
    assert clause.left is not None and clause.right is not None
    return strict_equal(
        _value(clause.left, state, item, True), _value(clause.right, state, item, True)
    )


def evaluate_when(expression: str | WhenExpr, state: Mapping[str, Any]) -> bool:
    """Whether the expression holds over ``state``; raises WhenError as TAKT would."""
    parsed = parse_when(expression) if isinstance(expression, str) else expression
    return any(all(_holds(c, state) for c in alt) for alt in parsed.alternatives)
