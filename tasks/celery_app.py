"""The worker-side Celery app: queues per tier, routes and beat schedule from app.contract.

`celery -A tasks.celery_app worker -Q fast` works as well as `legato worker --tier fast`.
"""

from __future__ import annotations

from celery import Celery
from flask import Flask

import tasks.cooperative  # checks a gevent worker's database waits (signal handler)
import tasks.heartbeat  # noqa: F401 - registers the worker heartbeat signal handlers
from app import create_app
from app.contract import TASK_MODULES, beat_schedule, celery_config
from tasks.base import LegatoTask


def make_celery(flask_app: Flask | None = None) -> Celery:
    flask_app = flask_app or create_app()
    settings = flask_app.extensions["legato.settings"]
    celery = Celery("legato", task_cls=LegatoTask, include=list(TASK_MODULES))
    celery.conf.update(celery_config(settings))
    celery.conf.beat_schedule = beat_schedule(settings)
    celery.flask_app = flask_app
    flask_app.extensions["celery"] = celery
    return celery


celery_app = make_celery()
app = celery_app  # `celery -A tasks.celery_app` looks for `app` or `celery`
__all__ = ["celery_app", "make_celery"]
