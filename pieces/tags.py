"""TAKT's status tags: ``[MOVEMENT:N]`` picks a rule (or label), ``[JUDGE:N]`` a condition.

The tag is the movement's name upper-cased with a 1-based number. It is found
case-insensitively and the **last** one in a text wins, so a judge that restates the
options before deciding is read correctly; ``[JUDGE:N]`` takes the **first** one.
Tags naming other movements are ignored, which is how one answer such as
``[ARCH-REVIEW:1] [SECURITY-REVIEW:2]`` serves two sub-movements.
"""

from __future__ import annotations

import re
from functools import lru_cache

# More digits than any rule list can have: read as "no valid tag", never as a number.
_MAX_DIGITS = 9
_JUDGE = re.compile(r"\[JUDGE:(\d+)\]", re.IGNORECASE)


def status_tag(movement: str, number: int) -> str:
    """``status_tag("review", 2) == "[REVIEW:2]"``; ``number`` is 1-based."""
    return f"[{movement.upper()}:{number}]"


@lru_cache(maxsize=1024)
def _pattern(movement: str) -> re.Pattern[str]:
    return re.compile(r"\[" + re.escape(movement.upper()) + r":(\d+)\]", re.IGNORECASE)


def _index(digits: str | None) -> int:
    if not digits or len(digits) > _MAX_DIGITS:
        return -1
    index = int(digits) - 1
    return index if index >= 0 else -1


def detect_tag(text: str | None, movement: str) -> int:
    """The 0-based number of the last ``[MOVEMENT:N]`` tag in ``text``, or -1."""
    if not text:
        return -1
    found = _pattern(movement).findall(text)
    return _index(found[-1]) if found else -1


def detect_judge(text: str | None) -> int:
    """The 0-based number of the first ``[JUDGE:N]`` tag in ``text``, or -1."""
    if not text:
        return -1
    m = _JUDGE.search(text)
    return _index(m.group(1)) if m else -1
