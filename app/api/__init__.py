"""HTTP blueprints: one module per resource."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from app.openapi import CONVERTERS

    app.url_map.converters.update(CONVERTERS)
    from app.api import (
        agents,
        events,
        job_artifacts,
        job_views,
        jobs,
        meta,
        metrics,
        notes,
        pieces,
        swarm,
        traces,
        workers,
    )

    for module in (
        meta,
        jobs,
        events,
        job_artifacts,
        job_views,
        pieces,
        agents,
        traces,
        notes,
        workers,
        swarm,
        metrics,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(pieces.workflows_bp)  # TAKT v0.60's word for the same library
