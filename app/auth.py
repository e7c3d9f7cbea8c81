"""Bearer tokens (stored hashed) and the request's principal.

With AUTH_MODE=none every request is the admin owner `local`: the embedded,
single-user default.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app, g, request
from sqlalchemy import or_, select, update

from app.db import db, utcnow, utcnow_plus
from app.errors import Forbidden, Unauthorized
from app.models import ApiToken

LOCAL_OWNER = "local"
TOKEN_PREFIX = "lgt_"


@dataclass(frozen=True)
class Principal:
    owner: str
    admin: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(owner: str, *, admin: bool = False, name: str | None = None) -> str:
    """Store a new token's hash and return the token; it is never retrievable again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            owner_id=owner,
            name=name,
            token_hash=hash_token(token),
            prefix=token[:12],
            is_admin=admin,
        )
    )
    return token


def authenticate() -> Principal:
    from app.console.session import check_browser_request, session_token

    settings = current_app.extensions["legato.settings"]
    check_browser_request()  # the console's cookie and CSRF rules (no-op for bearer clients)
    if settings.auth_mode == "none":
        g.principal = Principal(owner=LOCAL_OWNER, admin=True)
        return g.principal
    header = request.headers.get("Authorization", "")
    if not header and session_token():
        header = f"Bearer {session_token()}"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    digest = hash_token(token.strip())
    row = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )
    # compare_digest keeps the miss path as slow as the hit path.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("the token is invalid or revoked")
    _touch(row)
    g.principal = Principal(owner=row.owner_id, admin=row.is_admin)
    return g.principal


def _touch(row: ApiToken) -> None:
    """Record use at most once a minute, so reads do not become a write per request."""
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == row.id,
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
