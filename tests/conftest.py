"""Shared fixtures: real PostgreSQL, real Redis, a real worker process, the fake LLM.

Every test session gets its own PostgreSQL database and its own Redis key prefix,
so several sessions (or developers) can share the machine's services. Under
CI=true a missing service fails the run; elsewhere it skips the tests that need it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
# A tier no test worker consumes: jobs sent there stay queued until a test acts on them.
IDLE_TIER = "idle"
TEST_TIERS = f"fast,auto,quality,reflection,{IDLE_TIER}"
WORKER_QUEUES = "fast,auto,quality,reflection,maintenance"


def unavailable(reason: str, hint: str = "") -> None:
    """Something a test needs is missing: a failure under CI=true, a skip elsewhere."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}{f' ({hint})' if hint else ''}", pytrace=False)
    pytest.skip(reason)


def service_missing(what: str, exc: BaseException) -> None:
    unavailable(f"{what} is not reachable ({exc})", "start it, see README 'Tests'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = ""):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


# -- services -------------------------------------------------------------------


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, connect_timeout=5, autocommit=True)


@contextmanager
def temporary_pg_database(prefix: str = "legato_test") -> Iterator[str]:
    """A blank PostgreSQL database, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = _pg_admin()
    except Exception as exc:
        service_missing("PostgreSQL", exc)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A blank PostgreSQL database for this test session."""
    with temporary_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        service_missing("Redis", exc)
    return REDIS_URL


@pytest.fixture(scope="session")
def fake_llm():
    from tests.fakellm import FakeLLM

    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def llm(fake_llm):
    """The session's fake LLM, with scripts and records cleared for this test."""
    fake_llm.reset()
    yield fake_llm
    fake_llm.reset()


# -- the legato stack under test --------------------------------------------------


@pytest.fixture(scope="session")
def stack_env(pg_database, redis_url, fake_llm, tmp_path_factory) -> Iterator[dict[str, str]]:
    """Environment for the API and workers of this session; applied to os.environ too."""
    data_dir = tmp_path_factory.mktemp("legato-data")
    env = {
        "DATABASE_URL": pg_database,
        "BROKER_URL": redis_url,
        "BROKER_KEY_PREFIX": f"legato-test-{uuid.uuid4().hex[:8]}:",
        "LLM_BASE_URL": fake_llm.url,
        "LLM_MODEL": "fake-model",
        "LLM_MAX_RETRIES": "2",
        "LLM_RETRY_INITIAL_DELAY": "0.05",
        "LLM_RETRY_MAX_DELAY": "0.2",
        "LLM_TIMEOUT": "5",
        "MOVEMENT_LEASE_SECONDS": "6",
        "TIERS": TEST_TIERS,
        "LEGATO_DATA_DIR": str(data_dir),
        "PIECES_PATH": str(ROOT / "tests" / "piece_suite"),
        "WORKER_CONCURRENCY": "8",
        "AUTH_MODE": "none",
        # delay_before_ms waits at most this long here (auto-improvement-loop asks 60 s).
        "STEP_DELAY_MAX_MS": "1500",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reset_cached_config()
    from app.migrate import upgrade

    upgrade()
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reset_cached_config()


def _reset_cached_config() -> None:
    from app.config import reset_settings
    from app.contract import reset_producer

    reset_settings()
    reset_producer()


@pytest.fixture(scope="session")
def app(stack_env):
    from app import create_app

    flask_app = create_app()
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    from app.db import db

    with app.app_context():
        yield db.session
        db.session.rollback()


class WorkerProcess:
    """A real `legato worker` process; its log is shown when a test fails."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        queues: str = WORKER_QUEUES,
        concurrency: int = 8,
        extra: tuple[str, ...] = (),
    ):
        self.env, self.log_path, self.queues = env, log_path, queues
        self.concurrency, self.extra = concurrency, extra
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "worker",
                "--tier",
                self.queues,
                "--concurrency",
                str(self.concurrency),
                *self.extra,
            ],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        wait_until(
            lambda: b"ready." in self.log_path.read_bytes() or self._died(),
            timeout=60,
            message="the worker to become ready",
        )
        if self._died():
            pytest.fail(f"worker exited early:\n{self.tail()}")
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self, sig: int | None = None, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if sig is None:
            self.process.terminate()
        else:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def worker(stack_env, tmp_path_factory) -> Iterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = WorkerProcess(stack_env, log_path).start()
    yield proc
    proc.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "worker" in item.fixturenames:
        proc = item.funcargs.get("worker")
        if isinstance(proc, WorkerProcess):
            report.sections.append(("worker log (tail)", proc.tail()))


@pytest.fixture(scope="session")
def live_api(app) -> Iterator[str]:
    """The API served over real HTTP (werkzeug, threaded) for streaming and CLI tests."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
