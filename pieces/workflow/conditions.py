"""Rule conditions as TAKT v0.60 reads them (SEMANTICS.md §3.2).

    condition := label | when(EXPR) | all(ARGS) | any(ARGS) | label && when(EXPR)

``ai(…)`` is refused; text that starts like ``all(``, ``any(``, ``when(`` or ``ai(`` but
does not parse is an error rather than a label. Aggregate arguments are double-quoted
strings, ``\\"``-delimited strings or bare comma-separated text, and each argument is
itself a condition a parallel sub-step could match (a label, ``when(…)`` or ``label &&
when(…)``). Two conditions are compared by their canonical printed form (``format``),
which is how a parallel parent's aggregate finds what its sub-steps matched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from pieces.conditions import ConditionSyntaxError
from pieces.workflow.syntax import closing_paren, escaped, split_top_level
from pieces.workflow.when import WhenError, parse_when, references_root

_AI = re.compile(r"^ai\(\"(.+)\"\)$")
_AGGREGATE = re.compile(r"^(all|any)\(")
_RESERVED_CALL = re.compile(r"^(all|any|when|ai)\(")

Kind = Literal["semantic", "when", "aggregate", "and"]


@dataclass(frozen=True)
class Condition:
    kind: Kind
    label: str | None = None  # semantic
    expression: str | None = None  # when
    aggregate: Literal["all", "any"] | None = None
    targets: tuple[Condition, ...] = field(default_factory=tuple)  # aggregate arguments
    left: Condition | None = None  # and: a label or an aggregate
    right: Condition | None = None  # and: a when()


def _bad(raw: str) -> ConditionSyntaxError:
    return ConditionSyntaxError(f"invalid workflow rule condition: {raw}")


def _is_when(text: str) -> bool:
    return (
        text.startswith("when(")
        and text.endswith(")")
        and closing_paren(text, len("when")) == len(text) - 1
    )


def _aggregate_parts(text: str) -> tuple[str, str] | None:
    m = _AGGREGATE.match(text)
    if not m:
        return None
    start = len(m.group(0)) - 1
    end = closing_paren(text, start)
    if end < 0:
        return None
    args = text[start + 1 : end]
    if not args.strip() or text[end + 1 :].strip():
        return None
    return m.group(1), args


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _quoted_args(text: str, args: str) -> list[str] | None:
    out, i = [], 0
    while i < len(text):
        i = _skip_space(text, i)
        if i >= len(text) or text[i] != '"':
            return None
        end = i + 1
        while end < len(text) and not (text[end] == '"' and not escaped(text, end)):
            end += 1
        if end >= len(text):
            return None
        value = _unescape(text[i + 1 : end])
        if not value.strip():
            raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
        out.append(value)
        i = _skip_space(text, end + 1)
        if i >= len(text):
            break
        if text[i] != ",":
            return None
        i += 1
        if _skip_space(text, i) >= len(text):
            raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
    return out


def _delimiter(text: str, i: int) -> bool:
    """A ``\\"`` at ``i`` not itself escaped."""
    return text.startswith('\\"', i) and not escaped(text, i)


def _backslash_quoted_args(text: str, args: str) -> list[str] | None:
    out, i = [], 0
    while i < len(text):
        i = _skip_space(text, i)
        if not _delimiter(text, i):
            return None
        start = i + 2
        end = start
        while end < len(text) and not _delimiter(text, end):
            end += 1
        if end >= len(text):
            return None
        value = _unescape(text[start:end])
        if not value.strip():
            raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
        out.append(value)
        i = _skip_space(text, end + 2)
        if i >= len(text):
            break
        if text[i] != ",":
            return None
        i += 1
        if _skip_space(text, i) >= len(text):
            raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
    return out


def _bare_args(text: str, args: str) -> list[str]:
    out, start, depth, in_string = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == '"' and not escaped(text, i):
            in_string = not in_string
        elif in_string:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    if any(not part for part in out):
        raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
    return out


def aggregate_args(args: str) -> list[str]:
    """The arguments of ``all(…)``/``any(…)``, unquoted."""
    text = args.strip()
    if not text:
        raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
    if not (text.startswith('"') or text.startswith('\\"')):
        return _bare_args(text, args)
    found = _quoted_args(text, args)
    if found:
        return found
    found = _backslash_quoted_args(text, args)
    if not found:
        raise ConditionSyntaxError(f"invalid aggregate condition format: {args}")
    return found


def substep_condition(cond: Condition) -> bool:
    """What a parallel sub-step may match: a label, when(…), or label && when(…)."""
    if cond.kind in ("semantic", "when"):
        return True
    return (
        cond.kind == "and"
        and cond.left is not None
        and cond.left.kind == "semantic"
        and cond.right is not None
        and cond.right.kind == "when"
    )


# Valid conditions nest two levels (an aggregate of `label && when(…)`); anything deeper
# is refused before it can exhaust the stack.
MAX_NESTING = 6
_CACHED_LENGTH = 512


def parse_condition(raw: str) -> Condition:
    """Parse one workflow-dialect condition; raises ConditionSyntaxError."""
    if len(raw) <= _CACHED_LENGTH:
        return _parse_cached(raw)
    return _parse(raw, 0)


@lru_cache(maxsize=4096)
def _parse_cached(raw: str) -> Condition:
    return _parse(raw, 0)


def _parse(raw: str, depth: int) -> Condition:
    if depth > MAX_NESTING:
        raise ConditionSyntaxError("workflow rule condition is nested too deeply")
    text = raw.strip()
    if not text:
        raise ConditionSyntaxError("workflow rule condition must not be empty")
    if _AI.match(text):
        raise ConditionSyntaxError("workflow rule conditions do not support ai()")
    clauses = split_top_level(text, "&&")
    if any(not c for c in clauses):
        raise ConditionSyntaxError(f'workflow rule condition "{text}" contains an empty clause')
    if len(clauses) > 1:
        if len(clauses) != 2:
            raise _bad(raw)
        left, right = _parse(clauses[0], depth + 1), _parse(clauses[1], depth + 1)
        if right.kind != "when" or left.kind in ("when", "and"):
            raise _bad(raw)
        return Condition("and", left=left, right=right)
    if _is_when(text):
        expression = text[len("when(") : -1].strip()
        if not expression:
            raise ConditionSyntaxError(
                f"workflow rule condition must not have an empty when() expression: {raw}"
            )
        try:
            parse_when(expression)
        except WhenError as exc:
            raise ConditionSyntaxError(str(exc)) from None
        return Condition("when", expression=expression)
    parts = _aggregate_parts(text)
    if parts is not None:
        kind, args = parts
        targets = []
        for arg in aggregate_args(args):
            target = _parse(arg, depth + 1)
            if not substep_condition(target):
                raise ConditionSyntaxError(
                    f"aggregate condition target must be valid for a parallel sub-step: {arg}"
                )
            targets.append(target)
        return Condition("aggregate", aggregate=kind, targets=tuple(targets))  # type: ignore[arg-type]
    if _RESERVED_CALL.match(text):
        raise _bad(raw)
    return Condition("semantic", label=text)


def format_condition(cond: Condition) -> str:
    """The canonical printed form, the same for every spelling of one condition."""
    if cond.kind == "semantic":
        return cond.label or ""
    if cond.kind == "when":
        return f"when({cond.expression})"
    if cond.kind == "aggregate":
        args = ", ".join(json.dumps(format_condition(t), ensure_ascii=False) for t in cond.targets)
        return f"{cond.aggregate}({args})"
    assert cond.left is not None and cond.right is not None
    return f"{format_condition(cond.left)} && {format_condition(cond.right)}"


def canonical(raw: str) -> str:
    """``format_condition(parse_condition(raw))``, or ``raw`` itself when it does not parse."""
    try:
        return format_condition(parse_condition(raw))
    except ConditionSyntaxError:
        return raw


def semantic_label(cond: Condition) -> str | None:
    """The label Phase 3 may select for this condition (label, or label && when)."""
    if cond.kind == "semantic":
        return cond.label
    if cond.kind == "and" and cond.left is not None:
        return semantic_label(cond.left)
    return None


def aggregates_of(cond: Condition) -> list[Condition]:
    if cond.kind == "aggregate":
        return [cond]
    if cond.kind == "and" and cond.left is not None and cond.right is not None:
        return [*aggregates_of(cond.left), *aggregates_of(cond.right)]
    return []


def dynamic_target_label(aggregate: Condition) -> str | None:
    """A dynamic parallel aggregate must name exactly one bare label."""
    if len(aggregate.targets) == 1 and aggregate.targets[0].kind == "semantic":
        return aggregate.targets[0].label
    return None


def references_companion(cond: Condition) -> bool:
    """Transition rules may not read advisory companion state."""
    if cond.kind == "when":
        return references_root(cond.expression or "", "companion")
    if cond.kind == "and" and cond.left is not None and cond.right is not None:
        return references_companion(cond.left) or references_companion(cond.right)
    if cond.kind == "aggregate":
        return any(references_companion(t) for t in cond.targets)
    return False


def rule_fields(cond: Condition) -> tuple[str, str | None, list[str], str | None]:
    """(kind, label, args, when) for ``pieces.model.Rule``.

    An aggregate joined with ``&& when(…)`` keeps kind all/any and carries the
    expression in ``when``: both must hold.
    """
    if cond.kind == "semantic":
        return "label", cond.label, [], None
    if cond.kind == "when":
        return "when", None, [], cond.expression
    if cond.kind == "aggregate":
        return cond.aggregate or "all", None, [format_condition(t) for t in cond.targets], None
    assert cond.left is not None and cond.right is not None
    kind, label, args, _ = rule_fields(cond.left)
    return ("label_when" if kind == "label" else kind), label, args, cond.right.expression
