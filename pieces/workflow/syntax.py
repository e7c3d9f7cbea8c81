"""Scanning helpers shared by the workflow condition grammar and the when() language.

Both read text in which double-quoted strings (with ``\\"`` and ``\\\\`` escapes) and
parentheses nest, and both split or search only at the top level: outside strings and
at parenthesis depth 0. Every function is one linear pass over its input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


def escaped(text: str, index: int) -> bool:
    """Whether the quote at ``index`` is escaped by an odd run of backslashes."""
    slashes = 0
    i = index - 1
    while i >= 0 and text[i] == "\\":
        slashes += 1
        i -= 1
    return slashes % 2 == 1


_STRUCTURE = re.compile(r'["()]')
_QUOTE = re.compile('"')
_SPLIT = {sep: re.compile(r'["()]|' + re.escape(sep)) for sep in ("&&", "||")}


def top_level(
    text: str, pattern: re.Pattern[str], start: int = 0
) -> Iterator[tuple[str, int, int]]:
    """``(token, index, depth)`` for each match of ``pattern`` outside string literals.

    ``pattern`` must also match ``"``, ``(`` and ``)``: quotes are consumed here, and a
    parenthesis is yielded with the depth after it (so a closing one at depth 0 closes
    the outermost); any other token is yielded with the depth it stands at.
    """
    in_string, depth = False, 0
    for m in pattern.finditer(text, start):
        token, i = m.group(), m.start()
        if token == '"':
            if not escaped(text, i):
                in_string = not in_string
            continue
        if in_string:
            continue
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        yield token, i, depth


def strings_closed(text: str) -> bool:
    return sum(1 for m in _QUOTE.finditer(text) if not escaped(text, m.start())) % 2 == 0


def closing_paren(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start``, or -1."""
    for token, i, depth in top_level(text, _STRUCTURE, start):
        if token == ")" and depth == 0:
            return i
    return -1


def split_top_level(text: str, separator: str) -> list[str]:
    """Split at ``separator`` (``&&`` or ``||``) outside strings and parentheses.

    Parts are stripped and empty parts kept: deciding that an empty clause is an error
    is the caller's business.
    """
    parts: list[str] = []
    start = 0
    for token, i, depth in top_level(text, _SPLIT[separator]):
        if token == separator and depth == 0 and i >= start:
            parts.append(text[start:i].strip())
            start = i + len(separator)
    parts.append(text[start:].strip())
    return parts


def balanced(text: str) -> bool:
    """Strings closed and parentheses balanced, never closing more than were opened."""
    depth = 0
    for _, _, depth in top_level(text, _STRUCTURE):
        if depth < 0:
            return False
    return depth == 0 and strings_closed(text)
