"""`legato token create | ls | revoke`: API tokens, straight in the database (admin only).

Tokens are stored hashed; `create` prints the token once. Owners are checked against
the one owner rule (app.schemas.OWNER_PATTERN), so no token can act as `*`.
"""

from __future__ import annotations

import re

import click
from sqlalchemy import select

from app.cli.group import cli

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_EXPIRY_SECONDS = 10 * 365 * 86400


def parse_duration(text: str) -> int:
    """'90m', '12h', '30d', '2w' (or plain seconds) as seconds; ValueError otherwise."""
    found = re.fullmatch(r"\s*(\d{1,9})\s*([smhdw]?)\s*", text.lower())
    if not found:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 90m or 2w")
    seconds = int(found[1]) * _UNITS[found[2] or "s"]
    if not 0 < seconds <= MAX_EXPIRY_SECONDS:
        raise ValueError("a token's lifetime must be between 1 second and 10 years")
    return seconds


def _duration(ctx, param, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.group()
def token() -> None:
    """API tokens (admin; talks to the database directly)."""


@token.command("create")
@click.option("--owner", required=True, help="Owner id the token acts as.")
@click.option("--admin", is_flag=True, help="May list across owners and run admin operations.")
@click.option("--name", default=None, help="A label to recognise the token by.")
@click.option(
    "--expires-in",
    default=None,
    callback=_duration,
    help="Lifetime such as 30d, 12h, 90m or 2w (default: never expires).",
)
def token_create(owner: str, admin: bool, name: str | None, expires_in: int | None) -> None:
    """Create a token and print it once; only its hash is stored."""
    from app import create_app
    from app.auth import OWNER_RULE, create_token, valid_owner
    from app.db import db

    if not valid_owner(owner):  # before touching any database
        raise click.BadParameter(f"invalid owner {owner!r}: {OWNER_RULE}", param_hint="--owner")
    with create_app().app_context():
        value = create_token(owner, admin=admin, name=name, expires_in=expires_in)
        db.session.commit()
    click.echo(value)


@token.command("ls")
@click.option("--owner", default=None, help="Only this owner's tokens.")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired tokens.")
def token_ls(owner: str | None, show_all: bool) -> None:
    """List tokens (never the tokens themselves: their prefix, owner and dates)."""
    from app import create_app
    from app.db import db, utcnow
    from app.models import ApiToken

    with create_app().app_context():
        expired = ApiToken.expires_at <= utcnow()
        stmt = select(ApiToken, expired).order_by(ApiToken.created_at)
        if owner is not None:
            stmt = stmt.where(ApiToken.owner_id == owner)
        rows = db.session.execute(stmt).all()
    shown = 0
    for row, is_expired in rows:
        state = "revoked" if row.revoked_at else "expired" if is_expired else "active"
        if state != "active" and not show_all:
            continue
        shown += 1
        click.echo(
            f"{row.prefix:<13} {row.owner_id:<20} {'admin' if row.is_admin else '-':<6} "
            f"{state:<8} created {_when(row.created_at)}  used {_when(row.last_used_at)}  "
            f"expires {_when(row.expires_at)}  id {row.id}  {row.name or ''}".rstrip()
        )
    if not shown:
        click.echo("no tokens")


@token.command("revoke")
@click.argument("ref")
def token_revoke(ref: str) -> None:
    """Revoke the token with this prefix (as `ls` shows it) or id; it is refused at once."""
    from app import create_app
    from app.auth import revoke_tokens
    from app.db import db

    with create_app().app_context():
        rows = revoke_tokens(ref)
        if len(rows) > 1:
            db.session.rollback()
            raise click.ClickException(f"{len(rows)} live tokens match {ref!r}; use the id")
        if not rows:
            raise click.ClickException(f"no live token matches {ref!r}")
        label = f"{rows[0].prefix} ({rows[0].owner_id})"
        db.session.commit()
    click.echo(f"revoked {label}")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"
