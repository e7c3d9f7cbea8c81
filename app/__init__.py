"""legato's Flask application: the HTTP API over the job database."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from app.config import Settings, get_settings
from app.db import db, use_immediate_transactions


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    settings = settings or get_settings()
    settings.legato_data_dir.mkdir(parents=True, exist_ok=True)

    flask_app = Flask(__name__)
    flask_app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.sqlalchemy_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    flask_app.config.update(config)
    flask_app.extensions["legato.settings"] = settings
    db.init_app(flask_app)
    with flask_app.app_context():
        use_immediate_transactions(db.engine)

    from app.api import register_blueprints
    from app.console import register_console
    from app.errors import register_error_handlers
    from app.lifecycle import register_job_end_hooks

    register_error_handlers(flask_app)
    register_blueprints(flask_app)
    register_job_end_hooks(flask_app)
    register_console(flask_app)
    logging.getLogger(__name__).debug("app created (embedded=%s)", settings.embedded)
    return flask_app


def _engine_options(settings: Settings) -> dict[str, Any]:
    if settings.embedded:
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # A worker thread holds a connection only for its short claim and finish
    # transactions, never during an LLM call, so the pool need not match the thread
    # count: a few dozen connections serve hundreds of threads, and stay well under
    # PostgreSQL's max_connections when several workers share one database.
    return {
        "pool_pre_ping": True,
        "pool_size": min(settings.worker_concurrency, settings.db_pool_size),
        "max_overflow": settings.db_pool_overflow,
        "pool_timeout": 30,
        "connect_args": {"connect_timeout": 5},
    }
