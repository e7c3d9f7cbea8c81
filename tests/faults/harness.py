"""A private legato stack for tests that break things: real processes, real services.

`Stack` runs the API, workers and beat as subprocesses against the database and
broker it is given, with short leases and beat intervals so recovery happens in
seconds. `PrivateRedis` and `PrivatePostgres` start throwaway servers on free
ports, so a test can restart or flush them without touching the machine's shared
services (other sessions run their tests against those at the same time).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import ROOT, TEST_TIERS, WorkerProcess, free_port, service_missing, wait_until

# `from tests.faults.harness import *` brings in the pytest fixtures only.
__all__ = ["make_stack", "private_redis", "scratch_db"]

TERMINAL = {"succeeded", "failed", "cancelled"}
ALL_QUEUES = "fast,auto,quality,reflection,maintenance"


# -- private services -------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, no persistence; restartable."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server binary", FileNotFoundError("redis-server"))
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        def up() -> bool:
            try:
                return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
            except Exception:
                return False

        wait_until(up, timeout=20, message="private redis to start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start empty (no persistence): every queued message is gone."""
        self.stop()
        self.start()

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) on a free port, trust auth; stoppable."""

    def __init__(self):
        # Its own directory under /tmp: pytest's tmp dirs are private to root, and the
        # cluster runs as the postgres user when we are root.
        self.workdir = Path(tempfile.mkdtemp(prefix="legato-pg-"))
        self.port = free_port()
        self.datadir = self.workdir / "pgdata"
        self.sockdir = self.workdir / "pgsock"
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            service_missing("PostgreSQL server binaries", FileNotFoundError("initdb"))
        self.bindir = bins[-1].parent
        # initdb refuses to run as root; run the cluster as the postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/legato"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, check=check, timeout=60
        )

    def init(self) -> PrivatePostgres:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if self.as_user:
            shutil.chown(self.workdir, "postgres", "postgres")
            shutil.chown(self.sockdir, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE legato")
        return self

    def start(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-w",
            "-l",
            str(self.workdir / "pg.log"),
            "-o",
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-m",
            mode,
            "-w",
            "stop",
            check=False,
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the stack --------------------------------------------------------------------------


class Proc:
    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """API + workers + beats as subprocesses, on the given database and broker."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        broker_url: str,
        llm_url: str,
        **overrides: Any,
    ):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "BEAT_"))},
            "DATABASE_URL": database_url,
            "BROKER_URL": broker_url,
            "BROKER_KEY_PREFIX": f"legato-fault-{uuid.uuid4().hex[:8]}:",
            "LLM_BASE_URL": llm_url,
            "LLM_MODEL": "fake-model",
            "LLM_MAX_RETRIES": "2",
            "LLM_RETRY_INITIAL_DELAY": "0.05",
            "LLM_RETRY_MAX_DELAY": "0.2",
            "LLM_TIMEOUT": "5",
            "MOVEMENT_LEASE_SECONDS": "6",
            "TIERS": TEST_TIERS,
            "LEGATO_DATA_DIR": str(workdir / "data"),
            "PIECES_PATH": str(ROOT / "tests" / "piece_suite"),
            "WORKER_CONCURRENCY": "8",
            "AUTH_MODE": "none",
            # Recovery in seconds, not minutes.
            "RETRY_BACKOFF_SECONDS": "0.5,1",
            "RECONCILE_AFTER_SECONDS": "3",
            "BEAT_RECOVER_STUCK_SECONDS": "1",
            "BEAT_DISPATCH_RETRIES_SECONDS": "0.5",
            "BEAT_RECONCILE_SECONDS": "1",
            "BEAT_REFLECTIONS_SECONDS": "1",
            "BEAT_PROBE_SECONDS": "1",
            "REFLECTION_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.update({k.upper(): str(v) for k, v in overrides.items()})
        self.procs: list[Any] = []
        self.api_url: str | None = None

    # processes

    def migrate(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "app.cli.main", "db", "upgrade"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr

    def worker(
        self, name: str = "worker", queues: str = ALL_QUEUES, concurrency: int = 8, **env: Any
    ) -> WorkerProcess:
        worker_env = {**self.env, **{k.upper(): str(v) for k, v in env.items()}}
        proc = WorkerProcess(
            worker_env, self.workdir / f"{name}.log", queues=queues, concurrency=concurrency
        ).start()
        self.procs.append(proc)
        return proc

    def beat(self, name: str = "beat") -> Proc:
        data = self.workdir / f"{name}-data"
        data.mkdir(exist_ok=True)
        proc = Proc(
            [sys.executable, "-m", "app.cli.main", "beat", "--loglevel", "INFO"],
            {**self.env, "LEGATO_DATA_DIR": str(data)},
            self.workdir / f"{name}.log",
        )
        self.procs.append(proc)
        return proc

    def start(self, worker: str = "worker1", concurrency: int = 4) -> Proc:
        """The API, one worker and beat: the stack most fault tests kill a worker of."""
        self.api()
        first = self.worker(worker, concurrency=concurrency)
        self.beat()
        return first

    def api(self) -> str:
        port = free_port()
        proc = Proc(
            [sys.executable, "-m", "app.cli.main", "api", "--port", str(port)],
            self.env,
            self.workdir / "api.log",
        )
        self.procs.append(proc)
        self.api_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                # Any answer below 500 means it serves (401 in token mode is an answer).
                return requests.get(self.api_url + "/api/pieces", timeout=2).status_code < 500
            except requests.RequestException:
                return False

        wait_until(up, timeout=60, message="the API to answer")
        return self.api_url

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self) -> str:
        parts = []
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-30:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    # HTTP

    def submit(self, expect: int = 201, **body: Any) -> dict:
        body.setdefault("instruction", "write a haiku about queues")
        resp = requests.post(self.api_url + "/api/jobs", json=body, timeout=10)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def job(self, job_id: str) -> dict:
        resp = requests.get(f"{self.api_url}/api/jobs/{job_id}", timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def events(self, job_id: str) -> list[dict]:
        resp = requests.get(f"{self.api_url}/api/jobs/{job_id}/events", timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    # SQL (the test reads the source of truth directly)

    def sql(self, query: str, *params: Any) -> list[tuple]:
        # autocommit: a test's UPDATE (a simulated crash point) must land.
        with psycopg.connect(self.database_url, connect_timeout=5, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def statuses(self, job_ids: Iterable[str]) -> dict[str, str]:
        ids = list(job_ids)
        rows = self.sql("SELECT id::text, status FROM jobs WHERE id::text = ANY(%s)", ids)
        return dict(rows)

    def wait_all(self, job_ids: Iterable[str], timeout: float = 120, statuses=TERMINAL) -> dict:
        ids = list(job_ids)

        def done():
            try:
                current = self.statuses(ids)
            except psycopg.Error:
                return None
            ended = all(current.get(i) in statuses for i in ids)
            return current if ended else None

        try:
            return wait_until(done, timeout=timeout, interval=0.3, message="every job to end")
        except pytest.fail.Exception:
            print(self.logs())
            raise


def figure(name: str, job_ids: list[str], stack: Stack) -> dict[str, int]:
    """The one-line figure each fault test prints: submitted/succeeded/failed/lost/duplicated.

    lost = jobs that did not end; duplicated = movement runs completed twice for the same
    (job, attempt, iteration, movement) (a movement that ran to completion twice).
    """
    statuses = stack.statuses(job_ids)
    dup = stack.sql(
        """SELECT count(*) FROM (
             SELECT job_id, attempt, iteration, name, coalesce(parent_run_id::text, '')
             FROM movement_runs WHERE status = 'completed' AND job_id::text = ANY(%s)
             GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) d""",
        list(job_ids),
    )[0][0]
    counts = {
        "submitted": len(job_ids),
        "succeeded": sum(1 for s in statuses.values() if s == "succeeded"),
        "failed": sum(1 for s in statuses.values() if s == "failed"),
        "lost": sum(1 for i in job_ids if statuses.get(i) not in TERMINAL),
        "duplicated": int(dup),
    }
    print(f"\n[{name}] " + " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


# -- fixtures (import them into a test module to use them) ------------------------------


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    server = PrivateRedis(redis_dir).start()
    yield server
    server.stop()


@pytest.fixture
def scratch_db() -> Iterator[str]:
    """A blank database on the shared PostgreSQL (only this test uses it)."""
    from tests.conftest import temporary_pg_database

    with temporary_pg_database("legato_fault") as url:
        yield url


@pytest.fixture
def make_stack(tmp_path, fake_llm):
    """Build Stacks (on given services) that are stopped, logs shown on failure, at teardown."""
    made: list[Stack] = []
    fake_llm.reset()

    def make(database_url: str, broker_url: str, **overrides: Any) -> Stack:
        stack = Stack(
            tmp_path / f"stack{len(made)}", database_url, broker_url, fake_llm.url, **overrides
        )
        stack.migrate()
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()
        print(stack.logs())  # pytest shows captured teardown output only when a test fails
    fake_llm.latency = 0.0
    fake_llm.reset()
