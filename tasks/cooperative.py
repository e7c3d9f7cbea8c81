"""A gevent worker must not block its hub on the database.

`legato worker --pool gevent` becomes `celery ... -P gevent`, and Celery monkey-patches
the standard library before anything else is imported (celery/__main__.py). psycopg 3
then sees a patched `select` and waits on its sockets through it (psycopg.waiting picks
`wait_poll` over its C `wait_c`), so a query in one greenlet lets the others run; the
LLM client's requests/urllib3 sockets are patched sockets too. If psycopg was imported
before the patch (a process started some other way), every query would stop every
greenlet of the worker: this check says so loudly when the worker starts.
"""

from __future__ import annotations

import logging
import sys

from celery.signals import worker_init

log = logging.getLogger(__name__)


def database_waits_block() -> bool:
    """True in a gevent-patched process whose psycopg waits in C (not cooperatively)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return False
    from psycopg import waiting

    return waiting.wait is getattr(waiting, "wait_c", None)


@worker_init.connect
def _check(sender=None, **_kwargs) -> None:
    if database_waits_block():
        log.error(
            "gevent pool, but psycopg was imported before gevent patched the standard "
            "library: every database wait blocks the whole worker. Start it with "
            "`legato worker --pool gevent` (or `celery -P gevent`), which patches first."
        )
