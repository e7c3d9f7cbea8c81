"""The Flask-SQLAlchemy handle plus the few SQL expressions that need a dialect.

Time always comes from the database clock (DESIGN.md invariant 5), so lease and
backoff arithmetic is written as SQL, compiled per dialect here.
"""

from __future__ import annotations

import time

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))


class utcnow(FunctionElement):
    """The database's current UTC time."""

    type = DateTime(timezone=True)
    inherit_cache = True


class utcnow_plus(FunctionElement):
    """The database's current UTC time plus a number of seconds (may be a bound value)."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(utcnow)
def _utcnow_default(element, compiler, **kw):
    # clock_timestamp(), not now(): a long transaction must not see a frozen clock.
    return "clock_timestamp()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element, compiler, **kw):
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@compiles(utcnow_plus)
def _utcnow_plus_default(element, compiler, **kw):
    (seconds,) = list(element.clauses)
    return f"clock_timestamp() + make_interval(secs => {compiler.process(seconds, **kw)})"


@compiles(utcnow_plus, "sqlite")
def _utcnow_plus_sqlite(element, compiler, **kw):
    (seconds,) = list(element.clauses)
    return (
        "strftime('%Y-%m-%d %H:%M:%f', 'now', "
        f"printf('%+.3f seconds', {compiler.process(seconds, **kw)}))"
    )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL lets the API, workers and the Kombu transport share one SQLite file."""
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def use_immediate_transactions(engine: Engine) -> None:
    """Make our SQLite engine take the write lock when a transaction starts.

    A WAL reader that later writes fails outright if another writer committed in
    between; BEGIN IMMEDIATE makes it wait its turn instead. (Only our engine: the
    Kombu transport keeps read transactions open between polls.)
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        # The wait for the write lock happens in _begin_immediate, not in SQLite.
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        begin_immediate(conn)


# How long a transaction waits for SQLite's write lock before "database is locked".
LOCK_WAIT_SECONDS = 30.0


def begin_immediate(conn: Connection, wait: float = LOCK_WAIT_SECONDS) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock with time.sleep between tries.

    SQLite's own busy handler waits inside C. In the API's gevent worker that would
    stop every request of the process, including the one that holds the lock and
    needs to run to release it; time.sleep lets the others run meanwhile (and is
    what a thread does anyway).
    """
    deadline = time.monotonic() + wait
    pause = 0.001
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:  # still the API's 503 when it gives up
            if "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
