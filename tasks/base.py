"""The base of every legato task: Flask app context, id parsing and outcome logging.

Tasks stay thin shells (parse the ids, call the engine or a sweep); what they share
lives here, as dramatiq does with middleware. A task declares which positional
arguments are ids with ``ids=("run_id",)``; a malformed id is logged and dropped
(re-delivering it would never help), never raised.
"""

from __future__ import annotations

import inspect
import logging
import uuid

from celery import Task

log = logging.getLogger("legato.tasks")


class LegatoTask(Task):
    ids: tuple[str, ...] = ()

    def __call__(self, *args, **kwargs):
        flask_app = self.app.flask_app
        with flask_app.app_context():
            try:
                args = self._parse_ids(args)
            except (TypeError, ValueError) as exc:
                log.error("%s got a malformed id (%s); dropping: %r", self.name, exc, args)
                return "invalid"
            outcome = self.run(*args, **kwargs)
            if self.ids:
                log.info("%s %s: %s", self.name.rsplit(".", 1)[-1], args[0], outcome)
            return outcome

    def _parse_ids(self, args: tuple) -> tuple:
        if not self.ids:
            return args
        names = list(inspect.signature(self.run).parameters)
        out = list(args)
        for i, name in enumerate(names[: len(out)]):
            if name in self.ids and not isinstance(out[i], uuid.UUID):
                out[i] = uuid.UUID(str(out[i]))
        return tuple(out)
