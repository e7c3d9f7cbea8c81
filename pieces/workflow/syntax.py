"""Scanning helpers shared by the workflow condition grammar and the when() language.

Both read text in which double-quoted strings (with ``\\"`` and ``\\\\`` escapes) and
parentheses nest, and both split or search only at the top level: outside strings and
at parenthesis depth 0. Every function is one linear pass over its input.
"""

from __future__ import annotations

import re


def escaped(text: str, index: int) -> bool:
    """Whether the quote at ``index`` is escaped by an odd run of backslashes."""
    slashes = 0
    i = index - 1
    while i >= 0 and text[i] == "\\":
        slashes += 1
        i -= 1
    return slashes % 2 == 1


_STRUCTURE = re.compile(r'["()]')
_SPLIT = {sep: re.compile(r'["()]|' + re.escape(sep)) for sep in ("&&", "||")}


def closing_paren(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start``, or -1."""
    in_string, depth = False, 0
    for m in _STRUCTURE.finditer(text, start):
        ch, i = m.group(), m.start()
        if ch == '"':
            if not escaped(text, i):
                in_string = not in_string
        elif in_string:
            continue
        elif ch == "(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return i
    return -1


def split_top_level(text: str, separator: str) -> list[str]:
    """Split at ``separator`` (``&&`` or ``||``) outside strings and parentheses.

    Parts are stripped and empty parts kept: deciding that an empty clause is an error
    is the caller's business.
    """
    parts: list[str] = []
    in_string, depth, start = False, 0, 0
    for m in _SPLIT[separator].finditer(text):
        token, i = m.group(), m.start()
        if token == '"':
            if not escaped(text, i):
                in_string = not in_string
        elif in_string:
            continue
        elif token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and i >= start:
            parts.append(text[start:i].strip())
            start = i + len(separator)
    parts.append(text[start:].strip())
    return parts


def balanced(text: str) -> bool:
    """Strings closed and parentheses balanced, never closing more than were opened."""
    in_string, depth = False, 0
    for m in _STRUCTURE.finditer(text):
        ch, i = m.group(), m.start()
        if ch == '"':
            if not escaped(text, i):
                in_string = not in_string
        elif in_string:
            continue
        elif ch == "(":
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return False
    return not in_string and depth == 0
