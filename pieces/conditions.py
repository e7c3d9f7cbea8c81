"""Rule condition syntax: plain text, ``ai("…")``, ``all("…", …)`` and ``any("…", …)``."""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

ConditionKind = Literal["text", "ai", "all", "any"]

# No space allowed before "(" so that prose such as "all (minor) issues fixed" stays plain text.
_CALL = re.compile(r"^(ai|all|any)\((.*)\)$", re.DOTALL)
_ARG = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*(,|$)""", re.DOTALL)


class ConditionSyntaxError(ValueError):
    pass


class ParsedCondition(NamedTuple):
    kind: ConditionKind
    text: str  # what the agent and the judge are shown
    args: list[str]


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw)


def parse_args(inner: str) -> list[str]:
    """Parse a comma-separated list of quoted strings; raises ConditionSyntaxError."""
    args: list[str] = []
    pos = 0
    if not inner.strip():
        return args
    while pos < len(inner):
        m = _ARG.match(inner, pos)
        if not m:
            raise ConditionSyntaxError("arguments must be quoted strings separated by commas")
        args.append(_unescape(m.group(1) if m.group(1) is not None else m.group(2)))
        pos = m.end()
        if m.group(3) == "" and pos < len(inner):
            raise ConditionSyntaxError("arguments must be quoted strings separated by commas")
        if m.group(3) == "," and pos >= len(inner):
            raise ConditionSyntaxError("trailing comma after the last argument")
    return args


def parse_condition(raw: str) -> ParsedCondition:
    text = raw.strip()
    m = _CALL.match(text)
    if not m:
        return ParsedCondition("text", text, [])
    kind = m.group(1)
    args = parse_args(m.group(2))
    if not args:
        raise ConditionSyntaxError(f"{kind}() needs at least one quoted argument")
    if kind == "ai":
        if len(args) != 1:
            raise ConditionSyntaxError(f"ai() takes exactly one argument, got {len(args)}")
        return ParsedCondition("ai", args[0].strip(), [])
    return ParsedCondition(kind, text, [a.strip() for a in args])  # type: ignore[arg-type]


def same_outcome(a: str | None, b: str | None) -> bool:
    """Outcomes compare loosely: agents and authors disagree on case and spacing."""
    if a is None or b is None:
        return False
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
