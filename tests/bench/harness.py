"""The benchmark's world: a throwaway database, a Redis key prefix, the fake LLM, the
legato settings every process shares, and legato worker processes.

Scenarios (scenario1.py, scenario2.py, scenario3.py, validation.py) get a `Bench`
and use its services; submitting and waiting for jobs is in jobs.py.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

import requests

from tests.bench.common import (
    API_APP_NAME,
    BENCH_DIR,
    MONITOR_APP_NAME,
    PG_ADMIN_URL,
    PG_SAFETY_MARGIN,
    REDIS_URL,
    TIER,
    BenchFailure,
    env_int,
    free_port,
)
from tests.bench.cpu import CpuMeter
from tests.bench.procs import Proc
from tests.bench.report import say


class Bench:
    def __init__(self, stack: ExitStack):
        self.stack = stack
        self.jobs = env_int("BENCH_JOBS", 200)
        self.concurrency = env_int("BENCH_CONCURRENCY", 16)
        self.submit_threads = env_int("BENCH_SUBMIT_THREADS", 4)
        # Scenario 1 keeps this many jobs open (submitted, not yet ended) at any time, so
        # the worker is kept busy without a burst queueing hundreds of jobs behind it.
        self.slots = env_int("BENCH_OPEN_JOBS", self.concurrency)
        self.warmup = min(2 * self.slots, max(1, self.jobs // 10))
        # ... and then this many one at a time: the cost of a hop on an idle worker.
        self.serial_jobs = env_int("BENCH_SERIAL_JOBS", 50)
        self.tag = uuid.uuid4().hex[:10]
        self.tmp = Path(tempfile.mkdtemp(prefix=f"legato-bench-{self.tag}-"))
        self.keep_tmp = os.environ.get("BENCH_KEEP_LOGS") == "1"
        self.key_prefix = f"legato-bench-{self.tag}:"
        self.workers: list[Proc] = []

    # -- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._database()
        self._redis()
        self._fake()
        self._legato_env()

    def _database(self) -> None:
        import psycopg

        try:
            admin = psycopg.connect(PG_ADMIN_URL, connect_timeout=5)
        except Exception as exc:
            raise BenchFailure(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}") from None
        admin.autocommit = True
        self.admin = admin
        self.stack.callback(admin.close)
        name = f"legato_bench_{self.tag}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        self.stack.callback(self._drop_database, name)
        self.db_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        self.conn = psycopg.connect(
            self.db_url, connect_timeout=5, application_name=MONITOR_APP_NAME
        )
        self.conn.autocommit = True
        self.stack.callback(self.conn.close)
        say(f"setup: PostgreSQL database {name} (dropped at the end)")

    def _drop_database(self, name: str) -> None:
        try:
            self.conn.close()
        except Exception:
            pass
        with self.admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _redis(self) -> None:
        import redis

        try:
            self.redis = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
            self.redis.ping()
        except Exception as exc:
            raise BenchFailure(f"Redis is not reachable at {REDIS_URL}: {exc}") from None
        self.stack.callback(self._clean_redis)
        try:
            self.redis_pid = int(self.redis.info("server").get("process_id") or 0) or None
        except Exception:
            self.redis_pid = None
        say(f"setup: Redis {REDIS_URL}, key prefix {self.key_prefix}")

    def _clean_redis(self) -> None:
        keys = list(self.redis.scan_iter(match=f"{self.key_prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            self.redis.delete(*keys[i : i + 500])
        self.redis.close()

    def _fake(self) -> None:
        port, records_port = free_port(), free_port()
        fake = Proc(
            "fake LLM",
            [
                sys.executable,
                "-m",
                "tests.bench.fakeserver",
                "--port",
                str(port),
                "--records-port",
                str(records_port),
            ],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            self.tmp / "fakellm.log",
        )
        self.stack.callback(fake.stop)
        fake.start(b"listening on")
        self.fake = fake
        self.fake_root = f"http://127.0.0.1:{port}"
        self.fake_records_url = f"http://127.0.0.1:{records_port}/records"
        self.http = requests.Session()
        self.stack.callback(self.http.close)
        say(f"setup: fake LLM server (own process) at {self.fake_root}/v1")

    def fake_control(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.http.request(method, f"{self.fake_root}/_fake/{path}", json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def fake_records(self) -> list[list]:
        resp = self.http.get(self.fake_records_url, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def pg_backends(self) -> list[tuple[int, str]]:
        """(pid, application_name) of every other backend connected to our database."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pid, application_name FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name <> %s",
                (MONITOR_APP_NAME,),
            )
            return cur.fetchall()

    def _legato_env(self) -> None:
        self.base_env = {
            "DATABASE_URL": self.db_url,
            "BROKER_URL": REDIS_URL,
            "BROKER_KEY_PREFIX": self.key_prefix,
            "LLM_BASE_URL": f"{self.fake_root}/v1",
            "LLM_MODEL": "fake-model",
            "LLM_API_KEY": "",
            # A benchmark must not hide a failing call behind retries: any LLM error
            # fails the job, and a failed job fails the run.
            "LLM_MAX_RETRIES": "0",
            "LLM_TIMEOUT": "60",
            "TIERS": "fast,auto,quality,reflection",
            "DEFAULT_TIER": "auto",
            "PIECES_PATH": str(BENCH_DIR),
            "LEGATO_DATA_DIR": str(self.tmp / "data"),
            "AUTH_MODE": "none",
            "MOVEMENT_LEASE_SECONDS": "120",
        }
        # This process only submits: its Flask app's pool needs one connection per
        # submitting thread (app/__init__.py sizes the pool from WORKER_CONCURRENCY).
        submitters = max(self.slots, self.submit_threads)
        os.environ.update({**self.base_env, "WORKER_CONCURRENCY": str(submitters)})
        for tier in self.base_env["TIERS"].split(","):
            for suffix in ("BASE_URL", "MODEL", "API_KEY"):
                # Per-tier overrides from the caller's shell would send calls elsewhere.
                os.environ.pop(f"LLM_{tier.upper()}_{suffix}", None)
        from app.config import reset_settings
        from app.contract import reset_producer
        from app.migrate import upgrade

        reset_settings()
        reset_producer()
        upgrade()
        from app import create_app

        self.flask_app = create_app()
        from sqlalchemy import event

        from app.db import db

        with self.flask_app.app_context():

            @event.listens_for(db.engine, "connect")
            def _name(dbapi_connection, record) -> None:
                # So the CPU accounting can tell the API's backends from the worker's.
                with dbapi_connection.cursor() as cur:
                    cur.execute(f"SET application_name TO '{API_APP_NAME}'")
                dbapi_connection.commit()

        self.stack.callback(reset_producer)
        self.stack.callback(self._dispose_engine)

    def _dispose_engine(self) -> None:
        from app.db import db

        with self.flask_app.app_context():
            db.engine.dispose()

    # -- workers ---------------------------------------------------------------------------

    def start_legato_worker(
        self, concurrency: int, name: str, pool: str = "threads", env: dict | None = None
    ) -> Proc:
        env = {
            **os.environ,
            **self.base_env,
            "WORKER_CONCURRENCY": str(concurrency),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        proc = Proc(
            f"legato worker ({name})",
            [
                sys.executable,
                "-m",
                "app.cli.main",
                "worker",
                "--tier",
                TIER,
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
            ],
            env,
            self.tmp / f"worker-{name}.log",
        )
        self.stack.callback(proc.stop)
        self.workers.append(proc)
        return proc.start(b"ready.")

    def safe_concurrency(self, wanted: int) -> tuple[int, str]:
        with self.conn.cursor() as cur:
            cur.execute("SHOW max_connections")
            max_conn = int(cur.fetchone()[0])
            cur.execute("SHOW superuser_reserved_connections")
            reserved = int(cur.fetchone()[0])
            # Other users' connections; this benchmark's own are counted separately below
            # (no worker of ours is running when this is asked).
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND datname IS DISTINCT FROM current_database()"
            )
            in_use = int(cur.fetchone()[0])
        # This process: the monitor connection, and its Flask app's pool, which opens at
        # most one connection per submitting thread.
        own = 1 + max(self.slots, self.submit_threads)
        budget = max_conn - reserved - in_use - own - PG_SAFETY_MARGIN
        # A worker's pool is sized per process, not per thread (app._engine_options):
        # threads hold a connection only for their short transactions.
        from app.config import Settings

        settings = Settings()
        pool = min(wanted, settings.db_pool_size) + settings.db_pool_overflow
        note = (
            f"PostgreSQL max_connections {max_conn} ({reserved} reserved for superusers, "
            f"{in_use} in use by others now, {own} for this process, {PG_SAFETY_MARGIN} safety "
            f"margin) leaves {budget}; a worker's pool opens at most {pool}"
        )
        if pool > budget:
            raise BenchFailure(f"no room for a worker: {note}")
        return wanted, f"{note}: concurrency {wanted} fits"

    def close(self) -> None:
        if self.keep_tmp:
            say(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def meter(self, worker: Proc) -> CpuMeter:
        """CPU of `worker`, of the PostgreSQL backends and of the other processes."""
        return CpuMeter(
            worker.process.pid,
            self.pg_backends,
            API_APP_NAME,
            {"Redis": self.redis_pid, "fake LLM": self.fake.process.pid},
        )
