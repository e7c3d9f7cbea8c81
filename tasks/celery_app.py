"""The worker-side Celery app: queues per tier, routes, beat schedule, Flask context.

`celery -A tasks.celery_app worker -Q fast` works as well as `legato worker --tier fast`.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

import tasks.heartbeat  # noqa: F401 - registers the worker heartbeat signal handlers
from app import create_app
from app.celery_config import celery_config
from app.config import get_settings
from tasks.schedule import beat_schedule

TASK_MODULES = [
    "tasks.movement",  # run_movement: one movement run
    "tasks.chat",  # agent chat turns, agent tasks, session expiry
    "tasks.maintenance",  # the beat maintenance loop
    "tasks.scaling",  # Swarm scale-to-zero
]


def make_celery(flask_app: Flask | None = None) -> Celery:
    flask_app = flask_app or create_app()
    settings = flask_app.extensions["legato.settings"]

    class FlaskTask(Task):
        """Runs every task inside the Flask app context (Flask's own Celery pattern)."""

        def __call__(self, *args, **kwargs):
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery("legato", task_cls=FlaskTask, include=TASK_MODULES)
    celery.conf.update(celery_config(settings))
    celery.conf.beat_schedule = beat_schedule(settings)
    celery.flask_app = flask_app
    flask_app.extensions["celery"] = celery
    return celery


celery_app = make_celery()
app = celery_app  # `celery -A tasks.celery_app` looks for `app` or `celery`
__all__ = ["celery_app", "get_settings", "make_celery"]
