"""The web console (/ui/) and the API docs (/docs), served by the API process.

Pages are server-rendered Jinja shells; a little vanilla JavaScript fills them from
the public JSON API (with the console's sign-in cookie) and keeps them live with
EventSource. Every asset is in this package: nothing is loaded from elsewhere.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def register_console(app: Flask) -> None:
    from app.console import docs, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(docs.bp)

    app.add_url_rule("/", "console_root", lambda: redirect(url_for("console.jobs")))

    @app.after_request
    def _security_headers(response):
        from flask import request

        if request.path.startswith(("/ui", "/docs")):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
