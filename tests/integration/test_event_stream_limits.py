"""Event streams against the real `legato api` server process: followers do not use up
the server, each owner has a cap, every stream has a lifetime the CLI resumes across,
and a malformed event id is a 400."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import IDLE_TIER, ROOT, free_port, wait_until

pytestmark = pytest.mark.integration

# More than the 32 request threads `legato api` had, each of which a follower pinned.
MANY_STREAMS = 40
EMBEDDED_UNSET = ("DATABASE_URL", "BROKER_URL", "BROKER_KEY_PREFIX", "TIERS", "PIECES_PATH")


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def legato_api(stack_env, tmp_path) -> Iterator:
    """Start `legato api` processes with extra settings; stopped after the test."""
    started: list[tuple[subprocess.Popen, object]] = []

    def start(embedded: bool = False, **settings: object) -> str:
        port = free_port()
        env = {**os.environ, **stack_env, **{k: str(v) for k, v in settings.items()}}
        if embedded:  # what `legato run` serves: SQLite, Kombu's SQLAlchemy transport
            env = {k: v for k, v in env.items() if k not in EMBEDDED_UNSET}
            env["LEGATO_DATA_DIR"] = str(tmp_path / f"data-{port}")
            subprocess.run(
                [sys.executable, "-m", "app.cli", "db", "upgrade"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        log = open(tmp_path / f"api-{port}.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), timeout=60, message="`legato api` to answer")
        return url

    yield start
    for proc, log in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _waiting_job(api: str, tier: str = IDLE_TIER) -> str:
    """A job on a tier no worker serves: it stays queued, so its stream stays open."""
    resp = requests.post(f"{api}/api/jobs", json={"instruction": "wait", "tier": tier}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _open(api: str, job_id: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{api}/api/jobs/{job_id}/events",
        params={"follow": 1},
        headers=headers,
        stream=True,
        timeout=(5, 30),
    )


def _cancel(api: str, job_id: str) -> None:
    requests.post(f"{api}/api/jobs/{job_id}/cancel", timeout=30)


@pytest.mark.parametrize("embedded", [False, True], ids=["postgres-redis", "embedded"])
def test_followers_do_not_starve_the_server(legato_api, embedded):
    api = legato_api(embedded=embedded, STREAMS_PER_OWNER=MANY_STREAMS + 10)
    # Embedded: no worker runs here, so any tier keeps the job queued.
    job_id = _waiting_job(api, tier="auto" if embedded else IDLE_TIER)
    streams: list[tuple[requests.Response, Iterator[str]]] = []
    try:
        for _ in range(MANY_STREAMS):
            resp = _open(api, job_id)
            assert resp.status_code == 200, resp.text
            lines = resp.iter_lines(decode_unicode=True)
            streams.append((resp, lines))
            # The stream is live on the server: it has begun answering.
            assert next(lines).startswith(("retry:", ":"))
        health = requests.get(f"{api}/healthz", timeout=10)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        listed = requests.get(f"{api}/api/jobs", timeout=10)
        assert listed.status_code == 200
        assert job_id in {j["id"] for j in listed.json()["items"]}
        # And every follower is still being served: each one sees the job end.
        _cancel(api, job_id)
        for _, lines in streams:
            rest = [line for line in lines if line]
            assert rest[-2:] == ["event: end", 'data: {"status": "cancelled"}'], rest[-4:]
    finally:
        for resp, _ in streams:
            resp.close()
        _cancel(api, job_id)


def test_streams_per_owner_are_capped_and_slots_come_back(legato_api):
    api = legato_api(STREAMS_PER_OWNER=3, STREAM_MAX_SECONDS=4)
    job_id = _waiting_job(api)
    try:
        first = [_open(api, job_id) for _ in range(3)]
        assert [r.status_code for r in first] == [200, 200, 200]

        refused = _open(api, job_id)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_streams"
        assert "STREAMS_PER_OWNER" in refused.json()["error"]["message"]
        assert int(refused.headers["Retry-After"]) > 0

        # Each stream gives its slot back when it ends (here: its lifetime).
        for resp in first:
            lines = list(resp.iter_lines(decode_unicode=True))
            assert not any(line.startswith("event: end") for line in lines)
        again = _open(api, job_id)
        assert again.status_code == 200, again.text
        again.close()
    finally:
        _cancel(api, job_id)


def test_a_stream_ends_after_its_lifetime_and_resumes_from_last_event_id(legato_api):
    api = legato_api(STREAM_MAX_SECONDS=2)
    job_id = _waiting_job(api)
    try:
        lines = list(_open(api, job_id).iter_lines(decode_unicode=True))
        # The server ended it (we read to EOF), told EventSource when to come back, and
        # did not pretend the job ended.
        assert lines[0] == "retry: 1000"
        assert not any(line.startswith("event: end") for line in lines)
        ids = [line.removeprefix("id: ") for line in lines if line.startswith("id: ")]
        assert ids, lines  # the job_created event at least

        resumed = _open(api, job_id, **{"Last-Event-ID": ids[-1]})
        assert resumed.status_code == 200
        more = list(resumed.iter_lines(decode_unicode=True))
        assert not any(line == f"id: {i}" for i in ids for line in more)
    finally:
        _cancel(api, job_id)


def test_cli_follow_resumes_across_stream_lifetimes(legato_api, worker, llm, tmp_path):
    llm.latency = 1.0  # the demo job outlives several 1 s streams
    api = legato_api(STREAM_MAX_SECONDS=1)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "submit", "across streams", "--follow"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, "LEGATO_API_URL": api},
        )
    finally:
        llm.latency = 0
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Every movement once: no event lost or repeated across the reconnects.
    assert [line.split(" (")[0] for line in lines if line.startswith("▶")] == [
        "▶ draft",
        "▶ review",
    ]
    assert sum(line.startswith("✓ review → COMPLETE") for line in lines) == 1
    assert lines.count("■ succeeded") == 1
    # It did take more than one stream (the server's access log).
    job_id = lines[0].split()[1]
    [log] = tmp_path.glob("api-*.log")
    assert log.read_text().count(f"/api/jobs/{job_id}/events?follow=1") >= 2


BAD_IDS = [
    "9" * 5000,  # int() refuses more than 4300 digits
    "9" * 19,  # past BIGINT
    "²",  # str.isdigit() says yes, int() says no
    "-1",
    "1 2",
    "1.0",
    "0x10",
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=range(len(BAD_IDS)))
def test_a_malformed_last_event_id_is_a_400(live_api, bad):
    job_id = _waiting_job(live_api)
    try:
        resp = requests.get(
            f"{live_api}/api/jobs/{job_id}/events",
            params={"follow": 1},
            headers={"Last-Event-ID": bad.encode("latin-1")},
            timeout=30,
        )
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["code"] == "malformed"
        assert error["details"] == {"loc": "Last-Event-ID"}
    finally:
        _cancel(live_api, job_id)


@pytest.mark.parametrize("bad", [*BAD_IDS, "١٢", ""], ids=range(len(BAD_IDS) + 2))
@pytest.mark.parametrize("follow", ["0", "1"])
def test_a_malformed_after_is_a_400(live_api, bad, follow):
    job_id = _waiting_job(live_api)
    try:
        resp = requests.get(
            f"{live_api}/api/jobs/{job_id}/events",
            params={"follow": follow, "after": bad},
            timeout=30,
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["details"] == {"loc": "after"}
    finally:
        _cancel(live_api, job_id)


def test_the_largest_event_id_is_accepted(live_api):
    job_id = _waiting_job(live_api)
    try:
        resp = requests.get(
            f"{live_api}/api/jobs/{job_id}/events", params={"after": "9" * 18}, timeout=30
        )
        assert resp.status_code == 200 and resp.json()["items"] == []
        _cancel(live_api, job_id)
        cancelled = requests.get(
            f"{live_api}/api/jobs/{job_id}/events",
            params={"follow": 1},
            headers={"Last-Event-ID": "9" * 18},
            timeout=30,
        )
        assert cancelled.status_code == 200
        assert cancelled.text.rstrip().endswith('data: {"status": "cancelled"}')
    finally:
        _cancel(live_api, job_id)
