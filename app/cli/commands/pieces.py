"""`legato pieces ...`: validate piece files, list the pieces you can run, show one."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli.group import api_call, api_client, cli
from app.cli.output import output_option, print_json, table
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


# TAKT v0.60 calls them workflows: the same commands under its word.
cli.add_command(pieces, name="workflows")


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
@output_option
def list_pieces(output: str) -> None:
    """Pieces the server can run for you (from the API)."""
    page = api_call(api_client().request, "GET", "/api/pieces")
    if output == "json":
        print_json(page)
        return
    rows = [[p["name"], p["source"], " → ".join(p["movements"])] for p in page["items"]]
    click.echo(table(["NAME", "SOURCE", "MOVEMENTS"], rows, empty="no pieces"))


@pieces.command("show")
@click.argument("name")
@output_option
def show_piece(name: str, output: str) -> None:
    """A piece as the server resolves it: its movements and rules (json: facets inlined)."""
    detail = api_call(api_client().request, "GET", f"/api/pieces/{name}")
    if output == "json":
        print_json(detail)
        return
    piece = detail["piece"]
    click.echo(f"piece {detail['name']} ({detail['source']}): {piece.get('description') or ''}")
    click.echo(f"starts at {piece['initial_movement']}; at most {piece['max_movements']} movements")
    for mv in piece["movements"]:
        extra = (
            f" (parallel: {', '.join(s['name'] for s in mv['parallel'])})" if mv["parallel"] else ""
        )
        click.echo(f"\n{mv['name']}{extra}" + (f"  tier {mv['tier']}" if mv.get("tier") else ""))
        for i, rule in enumerate(mv["rules"], 1):
            click.echo(f"  {i}. {rule['condition']} → {rule.get('next') or '-'}")
    for w in detail["warnings"]:
        click.echo(f"warning: {w['text']}")
