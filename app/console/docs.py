"""/docs: Swagger UI (vendored in static/vendor/swagger-ui) over /openapi.json."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("docs", __name__, template_folder="templates")

# Swagger UI sets inline styles; everything else stays as strict as the console's.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.get("/docs")
def docs():
    from flask import make_response

    response = make_response(render_template("docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
