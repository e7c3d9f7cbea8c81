"""The console's sign-in cookie and its protection against cross-site requests.

In AUTH_MODE=token the console signs in with an API token and keeps it in an
HttpOnly, SameSite=Strict cookie; the API accepts that cookie as it accepts a bearer
header. A cookie is sent by the browser on its own, so every state-changing request
that relies on the browser (a cookie, or a browser's Origin header in AUTH_MODE=none)
must come from our own origin and carry the CSRF token the page was given. The token
is an HMAC of the API token, so no server-side session store is needed and any API
replica can check it. Clients that send `Authorization: Bearer` (the CLI, scripts)
carry no ambient credential and are not affected.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Response, current_app, request

from app.errors import Forbidden

COOKIE = "legato_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token() -> str | None:
    value = request.cookies.get(COOKIE, "").strip()
    return value or None


def csrf_token() -> str:
    """The token this browser's pages must send back with every change."""
    token = session_token()
    if token is None:
        settings = current_app.extensions["legato.settings"]
        # AUTH_MODE=none: nothing secret to bind to; the same-origin check does the work
        # and the header (which a cross-site form cannot set) is still required.
        token = f"none:{settings.sqlalchemy_url}"
    return hmac.new(token.encode(), b"legato-csrf", hashlib.sha256).hexdigest()


def set_session(response: Response, token: str) -> Response:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )
    return response


def clear_session(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/", samesite="Strict", httponly=True)
    return response


def same_origin() -> bool:
    """True unless the browser says the request comes from another site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return False
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:  # no evidence either way: the CSRF token decides
        return True
    return source != "null" and urlsplit(source).netloc == request.host


def is_browser_request() -> bool:
    if request.headers.get("Authorization"):
        return False
    return bool(
        session_token()
        or request.headers.get("Origin")
        or request.headers.get("Sec-Fetch-Site")
        or request.headers.get(CSRF_HEADER)
    )


def check_browser_request() -> None:
    """Refuse a state-changing browser request from another site or without our token."""
    if request.method in SAFE_METHODS or not is_browser_request():
        return
    if not same_origin():
        raise Forbidden(
            "cross-site request refused: changes must come from this server's own pages",
            code="csrf_failed",
        )
    sent = request.headers.get(CSRF_HEADER) or (
        request.form.get(CSRF_FIELD) if request.mimetype.endswith("form-urlencoded") else None
    )
    if not sent or not hmac.compare_digest(sent, csrf_token()):
        raise Forbidden(
            "missing or wrong CSRF token; reload the page and try again", code="csrf_failed"
        )
