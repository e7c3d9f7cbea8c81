"""Errors of legato's own rules, free of HTTP: the API maps them in one handler.

Worker code raises and catches these (a subtask's piece that cannot be loaded becomes
a tool error the model reads); the API turns them into the JSON error contract with
the status that `kind` names (app.errors).
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["invalid", "conflict", "not_found", "unavailable"]


class DomainError(Exception):
    kind: Kind = "invalid"
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class PieceUnavailable(DomainError):
    """The piece a job asks for is unknown, does not validate, or needs missing tiers."""

    code = "invalid_piece"


class IllegalState(DomainError):
    """The job (or run) is not in a state that allows this."""

    kind, code = "conflict", "illegal_state"
