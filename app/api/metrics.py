"""GET /metrics: Prometheus text format (see app.metrics for where the numbers come from)."""

from __future__ import annotations

from flask import Blueprint, Response

from app.api.spec import spec
from app.metrics import CONTENT_TYPE, render

bp = Blueprint("metrics", __name__)


@spec.route(
    bp,
    "/metrics",
    "GET",
    summary="Prometheus metrics for the whole deployment (aggregated from the database)",
    responses={200: "text/plain"},
    auth=False,
)
def metrics():
    return Response(render(), mimetype=None, content_type=CONTENT_TYPE)
