"""Validation problems, the report that collects them, and the loader's exceptions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["error", "warning"]


class Problem(BaseModel):
    """One finding about a piece, located by its YAML path (``movements[2].rules[0].next``)."""

    model_config = ConfigDict(frozen=True)

    path: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    # Positional construction reads naturally at call sites: Problem(path, message, hint).
    def __init__(
        self,
        path: str | None = None,
        message: str | None = None,
        hint: str | None = None,
        severity: Severity = "error",
        **data: Any,
    ) -> None:
        if path is not None:
            data["path"] = path
        if message is not None:
            data["message"] = message
        data.setdefault("hint", hint)
        data.setdefault("severity", severity)
        super().__init__(**data)

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ValidationReport(BaseModel):
    """Every problem found in one piece, errors and warnings together."""

    model_config = ConfigDict(frozen=True)

    source: str | None = None
    problems: list[Problem] = []

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        """Human-readable lines, errors first, in the order they were found."""
        return [f"{p.severity}: {p}" for p in [*self.errors, *self.warnings]]

    def __str__(self) -> str:
        head = self.source or "piece"
        if not self.problems:
            return f"{head}: ok"
        return "\n".join([f"{head}:", *(f"  {line}" for line in self.lines())])


class PieceNotFound(LookupError):
    """No library on the search path holds a piece of that name."""

    def __init__(self, name: str, searched: Iterable[str] = (), suggestion: str | None = None):
        self.name = name
        self.searched = list(searched)
        self.suggestion = suggestion
        text = f'piece "{name}" not found'
        if suggestion:
            text += f' (did you mean "{suggestion}"?)'
        super().__init__(text)


class PieceInvalid(ValueError):
    """The piece exists but has validation errors; ``report`` lists all of them."""

    def __init__(self, name: str, report: ValidationReport):
        self.name = name
        self.report = report
        errors = report.errors
        first = str(errors[0]) if errors else "invalid"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f'piece "{name}" is invalid: {first}{more}')


# Did-you-mean hints cost a fuzzy comparison per candidate; one validation may compute only
# so many of them, over a bounded candidate list, so its work stays linear in its input.
MAX_HINTS = 50
MAX_HINT_CANDIDATES = 200
_hints_left: ContextVar[int | None] = ContextVar("hints_left", default=None)


@contextmanager
def hint_budget(count: int = MAX_HINTS) -> Iterator[None]:
    token = _hints_left.set(count)
    try:
        yield
    finally:
        _hints_left.reset(token)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close enough."""
    match = closest(word, candidates)
    return f'did you mean "{match}"?' if match else None


def closest(word: str, candidates: Iterable[str]) -> str | None:
    left = _hints_left.get()
    if left is not None:
        if left <= 0:
            return None
        _hints_left.set(left - 1)
    pool: list[str] = []
    for c in dict.fromkeys(candidates):
        if c != word and abs(len(c) - len(word)) <= max(3, len(word) // 2):
            pool.append(c)
            if len(pool) >= MAX_HINT_CANDIDATES:
                break
    found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if found:
        return found[0]
    # Case slips ("Review" for "review") score low in difflib but are the likeliest typo.
    lowered = {c.lower(): c for c in pool}
    return lowered.get(word.lower())
