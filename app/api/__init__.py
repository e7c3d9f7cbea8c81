"""HTTP blueprints."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from app.api import jobs, meta

    app.register_blueprint(meta.bp)
    app.register_blueprint(jobs.bp)
