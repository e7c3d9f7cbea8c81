"""/api/pieces and /api/workflows: what an owner can run, its resolved form, validation.

TAKT v0.60 calls pieces workflows; both prefixes serve the same library, whichever format
each file is in.
"""

from __future__ import annotations

from flask import Blueprint

from app.api.spec import spec
from app.auth import principal
from app.catalog import library_for, problem_out, source_label
from app.errors import NotFound, Unprocessable
from app.schemas import PieceDetail, PieceList, PieceSummary, PieceValidate, ValidationOut
from pieces import PieceInvalid, PieceNotFound

bp = Blueprint("pieces", __name__, url_prefix="/api/pieces")
workflows_bp = Blueprint("workflows", __name__, url_prefix="/api/workflows")


def list_pieces():
    library = library_for(principal().owner)
    items = []
    for name in library.names():
        try:
            piece = library.load(name)
        except PieceInvalid as exc:
            items.append(
                PieceSummary(
                    name=name,
                    description=f"invalid: {exc.report.errors[0]}",
                    movements=[],
                    source=source_label(library.find(name)),
                )
            )
            continue
        items.append(
            PieceSummary(
                name=name,
                description=piece.description,
                movements=[m.name for m in piece.movements],
                source=source_label(library.find(name)),
            )
        )
    return PieceList(items=items)


def get_piece(name: str):
    library = library_for(principal().owner)
    try:
        path = library.find(name)
        piece = library.load(name)
    except PieceNotFound:
        raise NotFound(f"no piece {name!r}") from None
    except PieceInvalid as exc:
        raise Unprocessable(
            f"piece {name!r} does not validate",
            code="invalid_piece",
            details=[problem_out(p).model_dump() for p in exc.report.errors],
        ) from None
    return PieceDetail(
        name=piece.name,
        source=source_label(path),
        piece=piece.model_dump(mode="json", exclude={"warnings"}),
        warnings=[problem_out(p) for p in piece.warnings],
    )


def validate_piece(body: PieceValidate):
    report = library_for(principal().owner).validate_text(body.yaml, source="request")
    return ValidationOut(
        ok=report.ok,
        errors=[problem_out(p) for p in report.errors],
        warnings=[problem_out(p) for p in report.warnings],
    )


for _bp, _word in ((bp, "piece"), (workflows_bp, "workflow")):
    spec.route(
        _bp,
        "",
        "GET",
        summary=f"{_word.capitalize()}s this owner can run",
        responses={200: PieceList},
    )(list_pieces)
    spec.route(
        _bp,
        "/<piece:name>",
        "GET",
        summary=f"A {_word} as legato will run it (resolved)",
        responses={200: PieceDetail},
        errors=(404, 422),
    )(get_piece)
    spec.route(
        _bp,
        "/validate",
        "POST",
        summary=f"Validate a {_word} file's text; every problem at once",
        body=PieceValidate,
        responses={200: ValidationOut},
        errors=(429,),
    )(validate_piece)
