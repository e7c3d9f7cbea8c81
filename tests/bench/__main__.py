"""`python -m tests.bench`: see tests/bench/__init__.py for what this measures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from tests.bench.report import (
    DEFINITIONS,
    PYSPY_RATE,
    Movement,
    Result,
    ms,
    print_ratios,
    print_result,
    say,
    summarise_profile,
)

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TIER = "fast"
LINEAR_PIECE, SINGLE_PIECE = "bench-linear", "bench-single"
# Connections left for everyone else while we run (other test sessions, psql, ...).
PG_SAFETY_MARGIN = 15
STALL_SECONDS = 60.0
# What Celery logs when a task body raises (legato's task should never do that).
TASK_RAISED = b"raised unexpected"
API_APP_NAME = "legato-bench-api"
MONITOR_APP_NAME = "legato-bench-monitor"
# How often the benchmark looks for ended jobs in scenario 1 (both systems alike).
POLL_SECONDS = 0.005


class BenchFailure(Exception):
    """The benchmark cannot produce meaningful figures; the message says why."""


def env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BenchFailure(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise BenchFailure(f"{name} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise BenchFailure(f"{name}={raw!r} is not a number") from None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- CPU accounting -----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent per part of the system between two snapshots."""

    def __init__(self, bench: Bench, worker: Proc):
        self.bench, self.worker = bench, worker

    def snapshot(self) -> dict[str, dict[int, float]]:
        backends = self.bench.pg_backends()
        groups: dict[str, list[int]] = {
            "worker": [self.worker.process.pid],
            "PostgreSQL for the worker": [p for p, app in backends if app != API_APP_NAME],
            "PostgreSQL for the API": [p for p, app in backends if app == API_APP_NAME],
            "Redis": [self.bench.redis_pid] if self.bench.redis_pid else [],
            "fake LLM": [self.bench.fake.process.pid],
        }
        snap = {name: {pid: proc_cpu(pid) for pid in pids} for name, pids in groups.items()}
        t = os.times()
        snap["bench process (submits, polls)"] = {os.getpid(): t.user + t.system}
        return snap

    @staticmethod
    def delta(before: dict, after: dict) -> dict[str, float]:
        out = {}
        for name, pids in after.items():
            total = 0.0
            for pid, cpu in pids.items():
                if cpu is None:
                    continue
                start = before.get(name, {}).get(pid)
                total += cpu - (start or 0.0)
            out[name] = total
        return out


# -- processes -----------------------------------------------------------------------------


class Proc:
    """A child process whose output goes to a log file; ready when `marker` shows up."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen | None = None
        self._scanned = 0
        self._next_scan = 0.0

    def start(self, marker: bytes, timeout: float = 90.0) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while marker not in self.log_path.read_bytes():
            if self.process.poll() is not None:
                raise BenchFailure(f"{self.name} exited early:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise BenchFailure(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Fail if the process died or its log shows a task that raised (checked ~2/s)."""
        if self.process is not None and self.process.poll() is not None:
            raise BenchFailure(f"{self.name} died (exit {self.process.returncode}):\n{self.tail()}")
        now = time.monotonic()
        if now < self._next_scan:
            return
        self._next_scan = now + 0.5
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._scanned)
                chunk = f.read()
        except OSError:
            return
        # Only whole lines: a line still being written is scanned next time.
        chunk = chunk[: chunk.rfind(b"\n") + 1]
        self._scanned += len(chunk)
        if TASK_RAISED in chunk:
            line = next(ln for ln in chunk.splitlines() if TASK_RAISED in ln)
            raise BenchFailure(
                f"{self.name}: a task raised: {line.decode(errors='replace')[:300]}\n{self.tail()}"
            )

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    | " + ln for ln in text.splitlines()[-lines:])


# -- the benchmark ---------------------------------------------------------------------------


class Bench:
    def __init__(self, stack: ExitStack):
        self.stack = stack
        self.jobs = env_int("BENCH_JOBS", 200)
        self.concurrency = env_int("BENCH_CONCURRENCY", 16)
        self.slow_jobs = env_int("BENCH_SLOW_JOBS", 1000)
        self.slow_concurrency = env_int("BENCH_SLOW_CONCURRENCY", 200)
        self.slow_latency = env_float("BENCH_SLOW_LATENCY", 1.0)
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
        from app.dispatch import reset_producer
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

    def start_legato_worker(self, concurrency: int, name: str) -> Proc:
        env = {
            **os.environ,
            **self.base_env,
            "WORKER_CONCURRENCY": str(concurrency),
            "PYTHONUNBUFFERED": "1",
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
                "threads",
                "--concurrency",
                str(concurrency),
            ],
            env,
            self.tmp / f"worker-{name}.log",
        )
        self.stack.callback(proc.stop)
        self.workers.append(proc)
        return proc.start(b"ready.")

    # -- submitting and waiting ---------------------------------------------------------

    def legato_submitter(self, piece: str, label: str):
        """POST /api/jobs through the Flask test client (one client per thread)."""

        def make_ctx():
            return self.flask_app.test_client()

        def submit(i: int, client) -> str:
            resp = client.post(
                "/api/jobs",
                json={"instruction": f"bench {label} job {i}", "piece": piece, "tier": TIER},
            )
            if resp.status_code != 201:
                raise BenchFailure(
                    f"{label}: POST /api/jobs answered {resp.status_code}: "
                    f"{resp.get_data(as_text=True)[:300]}"
                )
            return resp.get_json()["id"]

        return submit, make_ctx

    def legato_poll(self, ids: list[str]) -> tuple[set[str], dict[str, str]]:
        """Which of these jobs ended: the succeeded ones, and the others with their reason."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT id::text, status, coalesce(error_summary, abort_reason, '') FROM jobs"
                " WHERE id = ANY(%s::uuid[]) AND status IN ('succeeded', 'failed', 'cancelled')",
                (ids,),
            )
            rows = cur.fetchall()
        done = {i for i, s, _ in rows if s == "succeeded"}
        failed = {i: f"{s}: {e}" for i, s, e in rows if s != "succeeded"}
        return done, failed

    def submit_all(self, count: int, submit: Callable, make_ctx: Callable, label: str):
        """Submit `count` jobs from BENCH_SUBMIT_THREADS threads; ids and seconds taken."""
        threads = max(1, min(self.submit_threads, count))
        ids: list[str] = []
        lock = threading.Lock()
        next_report = [time.monotonic() + 2.0]

        def work(k: int) -> None:
            ctx = make_ctx()
            for i in range(k, count, threads):
                job_id = submit(i, ctx)
                with lock:
                    ids.append(job_id)
                    if time.monotonic() >= next_report[0]:
                        next_report[0] = time.monotonic() + 2.0
                        say(f"  {label}: {len(ids)}/{count} submitted")

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(work, k) for k in range(threads)]:
                f.result()
        return ids, time.monotonic() - started

    def closed_loop(
        self,
        count: int,
        slots: int,
        submit: Callable,
        make_ctx: Callable,
        poll: Callable[[list[str]], tuple[set[str], dict[str, str]]],
        label: str,
    ) -> tuple[list[str], list[float]]:
        """Keep `slots` jobs open: each slot submits one, waits for it to end, repeats.

        Returns the job ids and each submission's duration. One poller (this thread)
        looks for ended jobs every POLL_SECONDS; any job that did not succeed aborts.
        """
        cond = threading.Condition()
        state = {"next": 0, "finished": 0, "abort": None}
        open_ids: set[str] = set()
        ended: set[str] = set()
        ids: list[str] = []
        submit_s: list[float] = []

        def slot() -> None:
            try:
                ctx = make_ctx()
                while True:
                    with cond:
                        if state["abort"] or state["next"] >= count:
                            return
                        i = state["next"]
                        state["next"] += 1
                    t = time.monotonic()
                    job_id = submit(i, ctx)
                    took = time.monotonic() - t
                    with cond:
                        ids.append(job_id)
                        submit_s.append(took)
                        open_ids.add(job_id)
                        while job_id not in ended and not state["abort"]:
                            cond.wait(0.5)
            except BaseException as exc:
                with cond:
                    state["abort"] = state["abort"] or exc
                    cond.notify_all()

        threads = [
            threading.Thread(target=slot, name=f"slot-{k}", daemon=True)
            for k in range(min(slots, count))
        ]
        for t in threads:
            t.start()
        last_change = next_report = time.monotonic()
        try:
            while True:
                with cond:
                    if state["abort"]:
                        break
                    if state["finished"] >= count:
                        break
                    pending = list(open_ids)
                if pending:
                    done, failed = poll(pending)
                    if failed:
                        first = next(iter(failed.items()))
                        raise BenchFailure(
                            f"{label}: {len(failed)} job(s) did not succeed; "
                            f"job {first[0]} {first[1]}"
                        )
                    if done:
                        with cond:
                            ended.update(done)
                            open_ids.difference_update(done)
                            state["finished"] += len(done)
                            cond.notify_all()
                        last_change = time.monotonic()
                now = time.monotonic()
                if now >= next_report and state["finished"] < count:
                    next_report = now + 2.0
                    say(f"  {label}: {state['finished']}/{count} jobs done")
                for w in self.workers:
                    if w.process is not None and w.process.returncode is None:
                        w.check()
                if now - last_change > STALL_SECONDS:
                    raise BenchFailure(
                        f"{label}: no job ended for {STALL_SECONDS:.0f} s "
                        f"({state['finished']}/{count} done)"
                    )
                time.sleep(POLL_SECONDS)
        except BaseException:
            with cond:
                state["abort"] = state["abort"] or True
                cond.notify_all()
            raise
        finally:
            for t in threads:
                t.join(timeout=30)
        if isinstance(state["abort"], BaseException):
            exc = state["abort"]
            if isinstance(exc, BenchFailure):
                raise exc
            raise BenchFailure(f"{label}: submitting failed: {exc!r}") from exc
        say(f"  {label}: {count}/{count} jobs done")
        return ids, submit_s

    def wait_legato(self, ids: list[str], label: str, extra: Callable[[], str] | None = None):
        """Poll the database until every job is terminal; fail on any unsuccessful job."""
        total = len(ids)
        last_done, last_change, next_report = -1, time.monotonic(), 0.0
        while True:
            with self.conn.cursor() as cur:
                cur.execute(
                    "SELECT status, count(*) FROM jobs WHERE id = ANY(%s::uuid[]) GROUP BY status",
                    (ids,),
                )
                counts = dict(cur.fetchall())
            bad = {s: n for s, n in counts.items() if s in ("failed", "cancelled")}
            if bad:
                raise BenchFailure(f"{label}: jobs did not succeed {bad}:\n{self._job_errors(ids)}")
            done = counts.get("succeeded", 0)
            now = time.monotonic()
            if done != last_done:
                last_done, last_change = done, now
            if done >= total:
                say(f"  {label}: {done}/{total} jobs done")
                return
            if now >= next_report:
                next_report = now + 2.0
                more = f", {extra()}" if extra else ""
                say(f"  {label}: {done}/{total} jobs done{more}")
            for w in self.workers:
                if w.process is not None and w.process.returncode is None:
                    w.check()
            if now - last_change > STALL_SECONDS:
                tails = "\n".join(f"  {w.name}:\n{w.tail()}" for w in self.workers if w.alive())
                raise BenchFailure(
                    f"{label}: no job finished for {STALL_SECONDS:.0f} s "
                    f"({done}/{total} done, {counts}):\n{tails}"
                )
            time.sleep(0.2)

    def _job_errors(self, ids: list[str], limit: int = 5) -> str:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT id, status, coalesce(error_summary, abort_reason, '') FROM jobs "
                "WHERE id = ANY(%s::uuid[]) AND status <> 'succeeded' LIMIT %s",
                (ids, limit),
            )
            return "\n".join(f"    job {i} {s}: {e}" for i, s, e in cur.fetchall())

    # -- legato timings ------------------------------------------------------------------------

    def legato_timings(self, ids: list[str], since: float) -> tuple[list[Movement], float]:
        """Per-movement timings from the database and the fake's records; the last finish."""
        by_run = {r[2]: r for r in self.fake_records() if r[2]}
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT j.id, extract(epoch FROM j.created_at), r.id, r.iteration,"
                " extract(epoch FROM r.started_at), extract(epoch FROM r.finished_at)"
                " FROM movement_runs r JOIN jobs j ON j.id = r.job_id"
                " WHERE j.id = ANY(%s::uuid[]) ORDER BY j.id, r.iteration",
                (ids,),
            )
            rows = cur.fetchall()
            cur.execute(
                "SELECT extract(epoch FROM max(finished_at)) FROM jobs WHERE id = ANY(%s::uuid[])",
                (ids,),
            )
            (last_finish,) = cur.fetchone()
        movements: list[Movement] = []
        previous_job, previous_done = None, 0.0
        for job_id, created, run_id, _iteration, started, finished in rows:
            ready = float(created) if job_id != previous_job else previous_done
            rec = by_run.get(str(run_id))
            if rec is None:
                raise BenchFailure(f"the fake LLM has no request for run {run_id}")
            movements.append(Movement(ready, float(started), rec[0], rec[1], float(finished)))
            previous_job, previous_done = job_id, float(finished)
        return movements, float(last_finish) - since

    # -- scenario 1 ----------------------------------------------------------------------------

    def measure(
        self,
        system: str,
        proc: Proc,
        submit: Callable,
        make_ctx: Callable,
        poll: Callable,
        timings: Callable[[list[str], float], tuple[list[Movement], float]],
    ) -> tuple[Result, Result]:
        """Warm up, then the loaded run (throughput) and the one-at-a-time run (latency)."""
        label = f"scenario 1 ({system})"
        self.closed_loop(self.warmup, self.slots, submit, make_ctx, poll, "warm-up (not counted)")
        runs = []
        for slots, jobs, what in (
            (self.slots, self.jobs, f"{self.slots} open at a time"),
            (1, self.serial_jobs, "one at a time"),
        ):
            self.fake_control("POST", "reset")
            say(f"  {label}: {jobs} jobs, {what}")
            meter = CpuMeter(self, proc)
            before = meter.snapshot()
            t0 = time.time()
            with self.profiled(proc, f"{system}-{slots}"):
                ids, submit_s = self.closed_loop(jobs, slots, submit, make_ctx, poll, label)
            cpu = meter.delta(before, meter.snapshot())
            movements, wall = timings(ids, t0)
            if len(movements) != 3 * jobs:
                raise BenchFailure(
                    f"{label}: expected {3 * jobs} movements, found {len(movements)}"
                )
            runs.append(Result(system, jobs, 3, submit_s, wall, movements, cpu))
            print_result(runs[-1], f"{system:<6}", loaded=slots > 1)
        proc.stop()
        return runs[0], runs[1]

    def scenario1_legato(self) -> tuple[Result, Result]:
        wanted = self.concurrency
        self.concurrency, note = self.safe_concurrency(wanted)
        if self.concurrency < wanted:
            say(f"  {note}")
            self.slots = min(self.slots, self.concurrency)
            self.warmup = min(self.warmup, 2 * self.slots)
        say(
            f"scenario 1 (legato): piece {LINEAR_PIECE} (3 movements), fake LLM latency 0, "
            f"1 worker (threads, concurrency {self.concurrency}); jobs submitted with "
            f"POST /api/jobs through the Flask test client"
        )
        self.fake_control("POST", "latency", {"latency": 0.0})
        worker = self.start_legato_worker(self.concurrency, "scenario1")
        say(f"  legato worker ready (pid {worker.process.pid})")
        submit, make_ctx = self.legato_submitter(LINEAR_PIECE, "scenario 1")
        return self.measure(
            "legato", worker, submit, make_ctx, self.legato_poll, self.legato_timings
        )

    def scenario1_raw(self) -> tuple[Result, Result]:
        from tests.bench import rawchain

        say(
            f"scenario 1 (raw Celery): chains of 3 tasks, each task the same HTTP call to "
            f"the fake LLM; 1 worker (threads, concurrency {self.concurrency}); same Redis; "
            + (
                "Flower task events on, as in legato"
                if os.environ.get("BENCH_RAW_EVENTS") == "1"
                else "no task events (legato sends them for Flower)"
            )
        )
        raw_prefix = f"{self.key_prefix}raw:"
        results_key = f"{raw_prefix}results"
        env = {
            **os.environ,
            "BENCH_RAW_BROKER_URL": REDIS_URL,
            "BENCH_RAW_KEY_PREFIX": raw_prefix,
            "BENCH_RAW_LLM_URL": f"{self.fake_root}/v1",
            "BENCH_RAW_RESULTS_KEY": results_key,
            "PYTHONUNBUFFERED": "1",
        }
        proc = Proc(
            "raw Celery worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.bench.rawchain",
                "worker",
                "-Q",
                rawchain.QUEUE,
                "-P",
                "threads",
                "-c",
                str(self.concurrency),
                "-n",
                f"bench-raw-{self.tag}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            self.tmp / "worker-raw.log",
        )
        self.stack.callback(proc.stop)
        self.workers.append(proc)
        proc.start(b"ready.")
        say(f"  raw Celery worker ready (pid {proc.process.pid})")

        producer = rawchain.make_app(REDIS_URL, raw_prefix, self.concurrency)
        self.stack.callback(producer.close)
        step = rawchain.register(producer, None, None, None)
        self.fake_control("POST", "latency", {"latency": 0.0})
        states: dict[str, dict] = {}
        read = [0]
        counter = iter(range(10**9))

        def submit(i: int, _ctx) -> str:
            chain_id = f"chain-{next(counter)}"
            rawchain.send_chain(step, chain_id, f"bench raw job {i}")
            return chain_id

        def poll(pending: list[str]) -> tuple[set[str], dict[str, str]]:
            new = self.redis.lrange(results_key, read[0], -1)
            read[0] += len(new)
            done, failed = set(), {}
            for raw in new:
                state = json.loads(raw)
                states[state["id"]] = state
                if state.get("error"):
                    failed[state["id"]] = state["error"]
                else:
                    done.add(state["id"])
            return done, failed

        def timings(ids: list[str], t0: float) -> tuple[list[Movement], float]:
            by_run = {r[2]: r for r in self.fake_records() if r[2]}
            movements: list[Movement] = []
            last_done = t0
            for chain_id in ids:
                state = states[chain_id]
                ready = state["submitted"]
                for index, (picked, done) in enumerate(state["steps"], start=1):
                    rec = by_run.get(f"{chain_id}:{index}")
                    if rec is None:
                        raise BenchFailure(f"the fake LLM saw no request for {chain_id}:{index}")
                    movements.append(Movement(ready, picked, rec[0], rec[1], done))
                    ready = done
                last_done = max(last_done, ready)
            return movements, last_done - t0

        return self.measure("raw", proc, submit, lambda: None, poll, timings)

    @contextmanager
    def profiled(self, proc: Proc, name: str):
        """With BENCH_PYSPY=1 and py-spy installed, sample `proc` and summarise its CPU.

        py-spy is not a dependency: `.venv/bin/pip install py-spy` to use this. The
        folded stacks are kept next to the logs (feed them to any flame graph tool).
        """
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if os.environ.get("BENCH_PYSPY") != "1" or not Path(spy).exists():
            yield
            return
        out = self.tmp / f"{name}.folded"
        rec = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(proc.process.pid),
                "--rate",
                str(PYSPY_RATE),
                "--format",
                "raw",
                "--output",
                str(out),
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - started
            rec.send_signal(signal.SIGINT)
            try:
                rec.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.wait()
            self.keep_tmp = True
            say(f"  py-spy: {proc.name} folded stacks in {out}")
            summarise_profile(out, seconds)

    # -- scenario 2 ----------------------------------------------------------------------------

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

    def scenario2(self) -> dict:
        latency = self.slow_latency
        concurrency, note = self.safe_concurrency(self.slow_concurrency)
        say(
            f"scenario 2: {self.slow_jobs} jobs of piece {SINGLE_PIECE} (1 movement), "
            f"fake LLM latency {latency:g} s, 1 worker (threads)"
        )
        say(f"  {note}")
        self.fake_control("POST", "latency", {"latency": latency})
        self.fake_control("POST", "reset")
        # Queue everything first, so the worker starts with a full queue and the figure
        # is about how many calls it keeps in flight, not about how fast we submit.
        submit, make_ctx = self.legato_submitter(SINGLE_PIECE, "scenario 2")
        ids, submit_s = self.submit_all(self.slow_jobs, submit, make_ctx, "scenario 2")
        say(
            f"  scenario 2: queued {self.slow_jobs} jobs in {submit_s:.2f} s "
            f"({self.slow_jobs / submit_s:.1f} jobs/s through the API); starting the worker"
        )
        t_start = time.time()
        worker = self.start_legato_worker(concurrency, "scenario2")
        t_ready = time.time()
        say(
            f"  legato worker ready (pid {worker.process.pid}, concurrency {concurrency}, "
            f"WORKER_CONCURRENCY={concurrency}) after {t_ready - t_start:.1f} s"
        )

        def in_flight() -> str:
            return f"{self.fake_control('GET', 'stats')['in_flight']} LLM calls in flight"

        meter = CpuMeter(self, worker)
        before = meter.snapshot()
        with self.profiled(worker, "legato-scenario2"):
            self.wait_legato(ids, "scenario 2", extra=in_flight)
        cpu = meter.delta(before, meter.snapshot())
        stats = self.fake_control("GET", "stats")
        records = self.fake_records()
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT extract(epoch FROM max(finished_at)) FROM jobs WHERE id = ANY(%s::uuid[])",
                (ids,),
            )
            (last_finish,) = cur.fetchone()
        worker.stop()
        self.fake_control("POST", "latency", {"latency": 0.0})

        spans = [(r[0], r[1]) for r in records if r[1] is not None]
        if len(spans) != self.slow_jobs:
            raise BenchFailure(f"expected {self.slow_jobs} LLM calls, the fake saw {len(spans)}")
        first_in = min(s for s, _ in spans)
        last_out = max(e for _, e in spans)
        window = last_out - first_in
        busy = sum(e - s for s, e in spans)
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        level = peak = 0
        at_least = 0.0  # seconds with in-flight >= 90% of the configured concurrency
        prev_t = events[0][0]
        for t, delta in events:
            if level >= 0.9 * concurrency:
                at_least += t - prev_t
            prev_t = t
            level += delta
            peak = max(peak, level)
        wall = float(last_finish) - t_ready
        ideal = self.slow_jobs * latency / concurrency
        avg = busy / window
        say(
            f"  scenario 2: peak in-flight LLM calls {peak} (fake's own counter: "
            f"{stats['max_in_flight']}) vs configured concurrency {concurrency} "
            f"-> {peak / concurrency:.0%}"
        )
        say(
            f"  scenario 2: average in-flight {avg:.1f} over the {window:.2f} s from first call "
            f"to last reply -> {avg / concurrency:.0%} of {concurrency}; "
            f">= 90% of it for {at_least:.2f} s ({at_least / window:.0%} of that time)"
        )
        say(
            f"  scenario 2: wall time {wall:.2f} s (worker ready -> last job finished) vs ideal "
            f"{ideal:.2f} s ({self.slow_jobs} x {latency:g} s / {concurrency}) -> "
            f"{wall / ideal:.2f}x ideal; first LLM call {first_in - t_ready:.2f} s after ready"
        )
        per_movement = cpu["worker"] / self.slow_jobs
        say(
            f"  scenario 2: worker CPU {cpu['worker']:.1f} s in {wall:.1f} s "
            f"({cpu['worker'] / wall:.0%} of one core), {ms(per_movement)} per movement; "
            f"PostgreSQL backends for it {ms(cpu['PostgreSQL for the worker'] / self.slow_jobs)} "
            f"per movement"
        )
        say(
            f"  scenario 2: one worker process runs its Python on one core at a time (the "
            f"GIL): at {ms(per_movement)} of CPU per movement it tops out near "
            f"{1 / per_movement:.0f} movements/s, i.e. about {latency / per_movement:.0f} "
            f"calls of {latency:g} s in flight, whatever its thread count"
        )
        return {"peak": peak, "avg": avg, "wall": wall, "ideal": ideal, "c": concurrency}

    def close(self) -> None:
        if self.keep_tmp:
            say(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    started = time.monotonic()
    say("legato benchmark: real PostgreSQL, Redis and Celery workers; only the LLM is fake")
    with ExitStack() as stack:
        bench = None
        try:
            bench = Bench(stack)
            stack.callback(bench.close)
            bench.setup()
            say(DEFINITIONS)
            legato = bench.scenario1_legato()
            raw = bench.scenario1_raw()
            print_ratios(legato, raw)
            bench.scenario2()
        except BenchFailure as exc:
            say(f"make bench: FAILED: {exc}")
            if bench is not None:
                bench.keep_tmp = True
            return 1
        except KeyboardInterrupt:
            say("make bench: interrupted")
            return 130
        except Exception:
            say(f"make bench: FAILED with an unexpected error:\n{traceback.format_exc()}")
            if bench is not None:
                bench.keep_tmp = True
            return 1
    say(f"make bench: done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
