"""Where the API finds pieces for an owner, and how their problems become API errors."""

from __future__ import annotations

from flask import current_app

from app.config import Settings
from app.errors import Unprocessable
from pieces import Movement, Piece, PieceInvalid, PieceLibrary, PieceNotFound


def library_for(owner: str) -> PieceLibrary:
    settings: Settings = current_app.extensions["legato.settings"]
    return PieceLibrary.for_owner(
        owner=owner, data_dir=settings.legato_data_dir, pieces_path=list(settings.pieces_path)
    )


def load_for_job(owner: str, name: str, settings: Settings) -> Piece:
    """The piece a new job will run: found, valid, and only using tiers that exist."""
    library = library_for(owner)
    try:
        piece = library.load(name)
    except PieceNotFound:
        raise Unprocessable(
            f"unknown piece {name!r}",
            code="unknown_piece",
            details={"available": library.names()},
        ) from None
    except PieceInvalid as exc:
        raise Unprocessable(
            f"piece {name!r} does not validate",
            code="invalid_piece",
            details=[str(p) for p in exc.report.errors],
        ) from None
    unknown = sorted(
        {m.tier for m in _all_movements(piece.movements) if m.tier and m.tier not in settings.tiers}
    )
    if unknown:
        raise Unprocessable(
            f"piece {name!r} names tiers this deployment does not run: {', '.join(unknown)}",
            code="invalid_piece",
            details={"tiers": list(settings.tiers)},
        )
    return piece


def _all_movements(movements: list[Movement]) -> list[Movement]:
    found: list[Movement] = []
    for movement in movements:
        found.append(movement)
        found.extend(_all_movements(movement.parallel))
    return found
