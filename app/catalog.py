"""Where the API finds pieces for an owner, and how their problems become API errors."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from app.config import Settings
from app.domain_errors import PieceUnavailable
from app.schemas import ProblemOut
from pieces import BUILTIN_DIR, Piece, PieceInvalid, PieceLibrary, PieceNotFound, Problem

__all__ = ["PieceUnavailable", "library_for", "load_for_job", "problem_out", "source_label"]


def library_for(owner: str) -> PieceLibrary:
    settings: Settings = current_app.extensions["legato.settings"]
    try:
        return PieceLibrary.for_owner(
            owner=owner, data_dir=settings.legato_data_dir, pieces_path=list(settings.pieces_path)
        )
    except ValueError:  # an owner name that cannot be a folder: shared and builtin pieces only
        return PieceLibrary([*settings.pieces_path, BUILTIN_DIR])


def source_label(path: Path) -> str:
    """Where a piece comes from, without exposing the server's file layout."""
    return "builtin" if Path(BUILTIN_DIR) in path.parents else path.parent.parent.name


def problem_out(problem: Problem) -> ProblemOut:
    return ProblemOut(
        path=problem.path,
        message=problem.message,
        hint=problem.hint,
        severity=problem.severity,
        text=str(problem),
    )


def load_for_job(owner: str, name: str, settings: Settings) -> Piece:
    """The piece a new job will run: found, valid, and only using tiers that exist."""
    library = library_for(owner)
    try:
        piece = library.load(name)
    except PieceNotFound:
        raise PieceUnavailable(
            f"unknown piece {name!r}", code="unknown_piece", details={"available": library.names()}
        ) from None
    except PieceInvalid as exc:
        raise PieceUnavailable(
            f"piece {name!r} does not validate",
            code="invalid_piece",
            details=[problem_out(p).model_dump() for p in exc.report.errors],
        ) from None
    unknown = sorted(
        {m.tier for m in piece.all_movements() if m.tier and m.tier not in settings.tiers}
    )
    if unknown:
        raise PieceUnavailable(
            f"piece {name!r} names tiers this deployment does not run: {', '.join(unknown)}",
            code="invalid_piece",
            details={"tiers": list(settings.tiers)},
        )
    return piece
