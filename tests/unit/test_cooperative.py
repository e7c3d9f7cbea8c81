"""A gevent worker's database waits: cooperative when Celery patches first, flagged when
psycopg came first (tasks/cooperative.py). Each case runs in its own interpreter, since
monkey-patching cannot be undone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

CELERY_PATCHES_FIRST = """
from celery import maybe_patch_concurrency
maybe_patch_concurrency(["celery", "-P", "gevent"])
from tasks.cooperative import database_waits_block
from psycopg import waiting
print(database_waits_block(), waiting.wait.__name__)
"""

PSYCOPG_FIRST = """
import psycopg
import gevent.monkey
gevent.monkey.patch_all()
from tasks.cooperative import database_waits_block
print(database_waits_block())
"""


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("code", "expected"),
    [(CELERY_PATCHES_FIRST, "False wait_"), (PSYCOPG_FIRST, "True")],
    ids=["celery-patches-first", "psycopg-first"],
)
def test_database_waits_under_gevent(code, expected):
    result = _run(code)
    assert result.startswith(expected), result
    assert "wait_c" not in result
