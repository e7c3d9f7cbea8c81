"""Bearer tokens (stored hashed) and the request's principal.

With AUTH_MODE=none every request is the admin owner `local`: the embedded,
single-user default.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from flask import current_app, g, request
from sqlalchemy import or_, select, update

from app.db import db, utcnow, utcnow_plus
from app.errors import Forbidden, Unauthorized
from app.models import ApiToken
from app.schemas import OWNER_PATTERN

LOCAL_OWNER = "local"
TOKEN_PREFIX = "lgt_"
_ENVIRON_KEY = "legato.principal"


@dataclass(frozen=True)
class Principal:
    owner: str
    admin: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


OWNER_RULE = "use letters, digits and _ . @ -, starting with a letter or digit, at most 128"


def valid_owner(owner: str) -> bool:
    return re.fullmatch(OWNER_PATTERN[1:-1], owner) is not None


def create_token(
    owner: str,
    *,
    admin: bool = False,
    name: str | None = None,
    expires_in: float | None = None,
) -> str:
    """Store a new token's hash and return the token; it is never retrievable again.
    `expires_in` seconds from now (the database clock), or never."""
    if not valid_owner(owner):
        raise ValueError(f"invalid owner {owner!r}: {OWNER_RULE}")
    if expires_in is not None and expires_in <= 0:
        raise ValueError("expires_in must be positive")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            owner_id=owner,
            name=name,
            token_hash=hash_token(token),
            prefix=token[:12],
            is_admin=admin,
            expires_at=None if expires_in is None else utcnow_plus(expires_in),
        )
    )
    return token


def revoke_tokens(ref: str) -> list[ApiToken]:
    """Revoke the live tokens whose id or shown prefix is `ref` (caller commits)."""
    try:
        match = ApiToken.id == uuid.UUID(ref)
    except ValueError:
        match = ApiToken.prefix == ref
    rows = db.session.scalars(select(ApiToken).where(match, ApiToken.revoked_at.is_(None))).all()
    if len(rows) == 1:
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.id == rows[0].id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return list(rows)


def authenticate() -> Principal:
    """The request's principal; looked up once per request (rate limits ask first)."""
    known = request.environ.get(_ENVIRON_KEY)
    if known is not None:
        g.principal = known
        return known
    g.principal = request.environ[_ENVIRON_KEY] = _authenticate()
    return g.principal


def _authenticate() -> Principal:
    from app.console.session import check_browser_request, session_token

    settings = current_app.extensions["legato.settings"]
    check_browser_request()  # the console's cookie and CSRF rules (no-op for bearer clients)
    if settings.auth_mode == "none":
        return Principal(owner=LOCAL_OWNER, admin=True)
    header = request.headers.get("Authorization", "")
    if not header and session_token():
        header = f"Bearer {session_token()}"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    digest = hash_token(token.strip())
    # Expiry is judged by the database clock, like every other deadline.
    found = db.session.execute(
        select(ApiToken, ApiToken.expires_at <= utcnow()).where(
            ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)
        )
    ).first()
    row, expired = found if found is not None else (None, None)
    # compare_digest keeps the miss path as slow as the hit path.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("the token is invalid or revoked")
    if expired:
        raise Unauthorized("the token has expired", code="token_expired")
    if not valid_owner(row.owner_id):  # made before owners were checked (e.g. "*")
        raise Unauthorized("the token's owner is not a valid owner id; revoke it")
    # Read the row before _touch commits: reading an expired row afterwards would open a
    # new transaction, which on SQLite (BEGIN IMMEDIATE) holds the write lock until the
    # request ends, and a publish on the same file would then wait for us.
    who = Principal(owner=row.owner_id, admin=row.is_admin)
    _touch(row.id)
    return who


def _touch(token_id) -> None:
    """Record use at most once a minute, so reads do not become a write per request."""
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < utcnow_plus(-60)),
        )
        .values(last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def principal() -> Principal:
    return g.principal


def require_admin() -> Principal:
    who = principal()
    if not who.admin:
        raise Forbidden("this operation needs an admin token")
    return who
