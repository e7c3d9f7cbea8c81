"""HTTP blueprints."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from app.api import job_artifacts, jobs, meta, pieces

    app.register_blueprint(meta.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(job_artifacts.bp)
    app.register_blueprint(pieces.bp)
    from app.api import swarm  # Docker Swarm control (issue 6)

    app.register_blueprint(swarm.bp)
    from app.api import notes, workers  # notes and worker status (issue 5)

    app.register_blueprint(notes.bp)
    app.register_blueprint(workers.bp)
    from app.api import agents, traces  # agent registry/chat, tool traces, answers (issue 4)

    app.register_blueprint(agents.bp)
    app.register_blueprint(traces.bp)
    from app.api import metrics  # GET /metrics, Prometheus (issue 4)

    app.register_blueprint(metrics.bp)
