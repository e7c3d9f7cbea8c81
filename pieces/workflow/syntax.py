"""Scanning helpers shared by the workflow condition grammar and the when() language.

Both read text in which double-quoted strings (with ``\\"`` and ``\\\\`` escapes) and
parentheses nest, and both split or search only at the top level: outside strings and
at parenthesis depth 0. Every function is one linear pass over its input.
"""

from __future__ import annotations


def escaped(text: str, index: int) -> bool:
    """Whether the quote at ``index`` is escaped by an odd run of backslashes."""
    slashes = 0
    i = index - 1
    while i >= 0 and text[i] == "\\":
        slashes += 1
        i -= 1
    return slashes % 2 == 1


def closing_paren(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start``, or -1."""
    in_string, depth = False, 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == '"':
            if not escaped(text, i):
                in_string = not in_string
            continue
        if in_string:
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
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
    in_string, depth, start, i = False, 0, 0, 0
    size = len(separator)
    while i < len(text) - 1:
        ch = text[i]
        if ch == '"' and not escaped(text, i):
            in_string = not in_string
        elif not in_string and ch == "(":
            depth += 1
        elif not in_string and ch == ")":
            depth -= 1
        elif not in_string and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i].strip())
            start = i + size
            i += size
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts


def balanced(text: str) -> bool:
    """Strings closed and parentheses balanced, never closing more than were opened."""
    in_string, depth = False, 0
    for i, ch in enumerate(text):
        if ch == '"' and not escaped(text, i):
            in_string = not in_string
        elif in_string:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return not in_string and depth == 0
