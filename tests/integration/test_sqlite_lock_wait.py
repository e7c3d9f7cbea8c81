"""Embedded mode under the API's gevent worker: a request waiting for SQLite's write lock
must let the request holding it run, or both stop until "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import sys
    import tempfile

    import gevent
    from sqlalchemy import text

    from app import create_app
    from app.config import Settings
    from app.db import db

    flask_app = create_app(Settings(legato_data_dir=tempfile.mkdtemp(), database_url=None))
    order = []


    def holder():
        with flask_app.app_context():
            db.session.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
            order.append("holder has the lock")
            gevent.sleep(0.3)  # e.g. a DNS lookup or a publish inside the transaction
            db.session.execute(text("INSERT INTO t VALUES (1)"))
            db.session.commit()
            order.append("holder committed")


    def waiter():
        gevent.sleep(0.05)
        with flask_app.app_context():
            db.session.execute(text("INSERT INTO t VALUES (2)"))
            db.session.commit()
            order.append("waiter committed")


    gevent.joinall([gevent.spawn(holder), gevent.spawn(waiter)], raise_error=True)
    print(order)
    sys.exit(0 if order[-1] == "waiter committed" else 1)
    """
)


def test_a_waiting_transaction_lets_the_lock_holder_finish(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LEGATO_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == str(
        ["holder has the lock", "holder committed", "waiter committed"]
    )
