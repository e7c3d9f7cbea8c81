"""`legato pieces ...` and `legato input`: piece files and what a running job is told."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.cli.main import _api_call, _client, cli
from app.config import get_settings


def _library():
    from pieces import PieceLibrary

    settings = get_settings()
    return PieceLibrary.for_owner(
        owner="local", data_dir=settings.legato_data_dir, pieces_path=list(settings.pieces_path)
    )


@cli.group()
def pieces() -> None:
    """Piece files: validate them, list them, show one resolved."""


@pieces.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Validate piece files; every problem with its YAML path. Exit 1 on any error."""
    library = _library()
    failed = False
    for path in files:
        report = library.validate_file(path)
        click.echo(str(report).replace(str(report.source), str(path), 1))
        failed = failed or not report.ok
    sys.exit(1 if failed else 0)


@pieces.command("ls")
def list_pieces() -> None:
    """Pieces the server can run for you (from the API)."""
    for piece in _api_call(_client().request, "GET", "/api/pieces")["items"]:
        click.echo(f"{piece['name']:<16} {piece['source']:<12} {' → '.join(piece['movements'])}")


@pieces.command("show")
@click.argument("name")
def show_piece(name: str) -> None:
    """A piece as the server resolves it (facets inlined), as JSON."""
    click.echo(json.dumps(_api_call(_client().request, "GET", f"/api/pieces/{name}"), indent=2))


@cli.command("input")
@click.argument("job_id")
@click.argument("text")
def give_input(job_id: str, text: str) -> None:
    """Give a job user input; a job waiting for input resumes."""
    result = _api_call(_client().request, "POST", f"/api/jobs/{job_id}/inputs", json={"text": text})
    click.echo(f"input recorded; job is {result['job_status']}")
