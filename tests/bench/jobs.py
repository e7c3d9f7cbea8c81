"""Submitting jobs and waiting for them: POST /api/jobs through the Flask test client,
the closed loop of scenario 1, polling the database, and per-movement timings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from tests.bench.common import POLL_SECONDS, STALL_SECONDS, TIER, BenchFailure
from tests.bench.report import Movement, say

if TYPE_CHECKING:
    from tests.bench.harness import Bench


def legato_submitter(bench: Bench, piece: str, label: str):
    """POST /api/jobs through the Flask test client (one client per thread)."""

    def make_ctx():
        return bench.flask_app.test_client()

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


def legato_poll(bench: Bench, ids: list[str]) -> tuple[set[str], dict[str, str]]:
    """Which of these jobs ended: the succeeded ones, and the others with their reason."""
    with bench.conn.cursor() as cur:
        cur.execute(
            "SELECT id::text, status, coalesce(error_summary, abort_reason, '') FROM jobs"
            " WHERE id = ANY(%s::uuid[]) AND status IN ('succeeded', 'failed', 'cancelled')",
            (ids,),
        )
        rows = cur.fetchall()
    done = {i for i, s, _ in rows if s == "succeeded"}
    failed = {i: f"{s}: {e}" for i, s, e in rows if s != "succeeded"}
    return done, failed


def submit_all(bench: Bench, count: int, submit: Callable, make_ctx: Callable, label: str):
    """Submit `count` jobs from BENCH_SUBMIT_THREADS threads; ids and seconds taken."""
    threads = max(1, min(bench.submit_threads, count))
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
    bench,
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
                        f"{label}: {len(failed)} job(s) did not succeed; job {first[0]} {first[1]}"
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
            for w in bench.workers:
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


def wait_legato(bench: Bench, ids: list[str], label: str, extra: Callable[[], str] | None = None):
    """Poll the database until every job is terminal; fail on any unsuccessful job."""
    total = len(ids)
    last_done, last_change, next_report = -1, time.monotonic(), 0.0
    while True:
        with bench.conn.cursor() as cur:
            cur.execute(
                "SELECT status, count(*) FROM jobs WHERE id = ANY(%s::uuid[]) GROUP BY status",
                (ids,),
            )
            counts = dict(cur.fetchall())
        bad = {s: n for s, n in counts.items() if s in ("failed", "cancelled")}
        if bad:
            raise BenchFailure(f"{label}: jobs did not succeed {bad}:\n{_job_errors(bench, ids)}")
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
        for w in bench.workers:
            if w.process is not None and w.process.returncode is None:
                w.check()
        if now - last_change > STALL_SECONDS:
            tails = "\n".join(f"  {w.name}:\n{w.tail()}" for w in bench.workers if w.alive())
            raise BenchFailure(
                f"{label}: no job finished for {STALL_SECONDS:.0f} s "
                f"({done}/{total} done, {counts}):\n{tails}"
            )
        time.sleep(0.2)


def _job_errors(bench: Bench, ids: list[str], limit: int = 5) -> str:
    with bench.conn.cursor() as cur:
        cur.execute(
            "SELECT id, status, coalesce(error_summary, abort_reason, '') FROM jobs "
            "WHERE id = ANY(%s::uuid[]) AND status <> 'succeeded' LIMIT %s",
            (ids, limit),
        )
        return "\n".join(f"    job {i} {s}: {e}" for i, s, e in cur.fetchall())


# -- legato timings ------------------------------------------------------------------------


def legato_timings(bench: Bench, ids: list[str], since: float) -> tuple[list[Movement], float]:
    """Per-movement timings from the database and the fake's records; the last finish."""
    by_run = {r[2]: r for r in bench.fake_records() if r[2]}
    with bench.conn.cursor() as cur:
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
