"""GET /metrics: Prometheus text format (see app.metrics for where the numbers come from).

The numbers name every owner's pieces and models, so the endpoint is not public: it
takes the METRICS_TOKEN (what Prometheus is given) or an admin API token, as a bearer
token. With AUTH_MODE=none everything is open, this included.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from app.api.spec import spec
from app.auth import authenticate
from app.errors import Forbidden
from app.metrics import CONTENT_TYPE, CachedRender

bp = Blueprint("metrics", __name__)


def _authorize() -> None:
    settings = current_app.extensions["legato.settings"]
    if settings.auth_mode == "none":
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    expected = settings.metrics_token
    if (
        expected
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.encode(), expected.encode())
    ):
        return
    if not authenticate().admin:  # 401 without a valid token
        raise Forbidden("metrics need the METRICS_TOKEN or an admin token")


def _cached() -> CachedRender:
    cache = current_app.extensions.get("legato.metrics")
    if cache is None:
        seconds = current_app.extensions["legato.settings"].metrics_cache_seconds
        cache = current_app.extensions.setdefault("legato.metrics", CachedRender(seconds))
    return cache


@spec.route(
    bp,
    "/metrics",
    "GET",
    summary="Prometheus metrics for the whole deployment (bearer METRICS_TOKEN or admin token)",
    responses={200: "text/plain"},
    auth=False,  # its own check: the metrics token is not an API token
    errors=(401, 403),
)
def metrics():
    _authorize()
    return Response(_cached()(), mimetype=None, content_type=CONTENT_TYPE)
