"""The job commands against a live API: prefixes, JSON output, exit codes, waiting for input.

Commands run in-process through click's runner (over real HTTP to the session's API);
the interactive prompt runs as a real process on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from app.cli.main import cli
from tests.conftest import IDLE_TIER, ROOT, wait_until
from tests.fakellm import error, text
from tests.integration.helpers import ask_for_the_format, movement, submit, wait_for_status
from tests.integration.idle import no_idle_jobs_left  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def legato(live_api):
    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env={"LEGATO_API_URL": live_api}, input=input)

    return run


def _ids(client) -> list[str]:
    return [j["id"] for j in client.get("/api/jobs?owner=*&limit=200").get_json()["items"]]


def test_job_ids_may_be_unique_prefixes(legato, client):
    first = submit(client, piece="demo", tier=IDLE_TIER)
    twin = None
    while twin is None:  # a second job whose id starts with the same digit (a few tries)
        job = submit(client, piece="demo", tier=IDLE_TIER)
        if job["id"][0] == first["id"][0]:
            twin = job
    ids = _ids(client)
    unique = next(
        first["id"][:n]
        for n in range(4, 37)
        if sum(i.startswith(first["id"][:n]) for i in ids) == 1
    )

    shown = legato("show", unique)
    assert shown.exit_code == 0, shown.output
    assert first["id"] in shown.output

    ambiguous = legato("show", first["id"][0])
    assert ambiguous.exit_code == 1
    assert "ambiguous" in ambiguous.output
    assert first["id"] in ambiguous.output and twin["id"] in ambiguous.output

    unknown = next(
        p
        for p in (uuid.uuid4().hex[:12] for _ in range(100))
        if not any(i.replace("-", "").startswith(p) for i in ids)
    )
    missing = legato("show", unknown)
    assert missing.exit_code == 1
    assert f"no job id starts with {unknown!r}" in missing.output
    assert "<html" not in missing.output.lower() and "spelling" not in missing.output

    not_an_id = legato("cancel", "not-hex!")
    assert not_an_id.exit_code == 2
    assert "is not a job id" in not_an_id.output


def test_listings_and_shows_print_json_that_parses(legato, client):
    job = submit(client, piece="demo", tier=IDLE_TIER, instruction="json me")
    listed = json.loads(legato("jobs", "--tier", IDLE_TIER, "-o", "json").output)
    assert job["id"] in [j["id"] for j in listed["items"]]
    shown = json.loads(legato("show", job["id"][:13], "--output", "json").output)
    assert shown["id"] == job["id"] and shown["runs"][0]["name"] == "draft"
    events = json.loads(legato("logs", job["id"], "-o", "json").output)
    assert [e["kind"] for e in events][:1] == ["job_submitted"]
    pieces = json.loads(legato("pieces", "ls", "-o", "json").output)
    assert "demo" in [p["name"] for p in pieces["items"]]
    piece = json.loads(legato("pieces", "show", "demo", "-o", "json").output)
    assert piece["piece"]["initial_movement"] == "draft"
    assert "items" in json.loads(legato("agents", "ls", "-o", "json").output)
    submitted = json.loads(
        legato("submit", "-", "--tier", IDLE_TIER, "-o", "json", input="from stdin\n").output
    )
    assert submitted["instruction"] == "from stdin\n"


def test_listings_have_headers_and_times(legato, client):
    submit(client, piece="demo", tier=IDLE_TIER, instruction="headers please")
    out = legato("jobs", "--tier", IDLE_TIER).output.splitlines()
    assert out[0].split() == [
        "ID",
        "STATUS",
        "PIECE",
        "TIER",
        "ATTEMPT",
        "CREATED",
        "TOOK",
        "INSTRUCTION",
    ]
    assert any("headers please" in line for line in out[1:])


def test_submit_reads_a_file_and_refuses_two_sources(legato, tmp_path):
    f = tmp_path / "task.txt"
    f.write_text("instruction from a file")
    ok = legato("submit", "--file", str(f), "--tier", IDLE_TIER, "-o", "json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["instruction"] == "instruction from a file"
    both = legato("submit", "x", "--file", str(f))
    assert both.exit_code == 2
    assert legato("submit").exit_code == 2


def test_exit_codes_follow_how_the_job_ended(legato, client, worker, llm):
    done = submit(client, piece="demo", instruction="succeed")
    wait_for_status(client, done["id"])
    watched = legato("watch", done["id"][:10])
    assert watched.exit_code == 0, watched.output
    assert "■ succeeded" in watched.output
    result = legato("result", done["id"][:10])
    assert result.exit_code == 0
    assert result.output.strip() == wait_for_status(client, done["id"])["result"].strip()

    llm.when(movement("draft"), text("I give up. [STEP:7]"))
    llm.when(lambda r: r.headers.get("X-Legato-Purpose") == "judge", text("none fits"))
    failed = submit(client, piece="demo", instruction="fail", max_attempts=1)
    wait_for_status(client, failed["id"])
    assert legato("watch", failed["id"]).exit_code == 1
    assert legato("result", failed["id"]).exit_code == 1

    cancelled = submit(client, piece="demo", tier=IDLE_TIER)
    assert legato("result", cancelled["id"]).exit_code == 5  # not finished yet
    assert legato("cancel", cancelled["id"]).exit_code == 0
    assert legato("result", cancelled["id"]).exit_code == 3
    assert legato("watch", cancelled["id"]).exit_code == 3
    again = legato("cancel", cancelled["id"])
    assert again.exit_code == 1 and "only unfinished jobs" in again.output


def test_waiting_for_input_exits_4_with_the_real_id_then_resumes(legato, client, worker, llm):
    ask_for_the_format(llm)
    llm.when(movement("answer"), text("Here are the notes."))
    out = legato(
        "submit", "write release notes", "--piece", "user-inputs", "--interactive", "--follow"
    )
    assert out.exit_code == 4, out.output
    job_id = next(
        j["id"]
        for j in client.get("/api/jobs?limit=5").get_json()["items"]
        if j["instruction"] == "write release notes"
    )
    assert f'legato input {job_id} "..."' in out.output
    assert "<job id>" not in out.output

    given = legato("input", job_id[:12], "Markdown")
    assert given.exit_code == 0, given.output
    assert f"job {job_id} is queued" in given.output
    resumed = legato("watch", job_id[:12])
    assert resumed.exit_code == 0, resumed.output
    assert "Here are the notes." in resumed.output
    logs = legato("logs", job_id[:12], "--follow")
    assert logs.exit_code == 0 and "input_received" not in logs.output  # described, not raw
    assert "user input received" in logs.output


def test_an_interactive_terminal_is_asked_for_the_input(client, worker, llm, live_api):
    ask_for_the_format(llm)
    llm.when(movement("answer"), text("Answered on a terminal."))
    job = submit(client, piece="user-inputs", instruction="ask me on a terminal", interactive=True)
    wait_for_status(client, job["id"], "waiting_human")

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "watch", job["id"]],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env={**os.environ, "LEGATO_API_URL": live_api},
        close_fds=True,
    )
    os.close(follower)
    seen = b""

    def read_until(marker: bytes) -> bool:
        nonlocal seen
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                seen += os.read(leader, 4096)
            except OSError:
                return False
        return marker in seen

    wait_until(lambda: read_until(b"your input"), timeout=60, message="the prompt")
    os.write(leader, b"Plain text\n")
    wait_until(
        lambda: read_until(b"Answered on a terminal.") or proc.poll() is not None,
        timeout=60,
        message="the job to finish",
    )
    assert proc.wait(timeout=60) == 0, seen.decode(errors="replace")
    os.close(leader)
    assert wait_for_status(client, job["id"])["status"] == "succeeded"


def test_a_failing_model_endpoint_is_visible_in_follow_and_show(legato, client, worker, llm):
    llm.when(movement("draft"), *[error(500)] * 12)
    out = legato(
        "submit", "doomed by the endpoint", "--piece", "demo", "--max-attempts", "1", "--follow"
    )
    assert out.exit_code == 1, out.output
    assert "LLM retry 1" in out.output and "500" in out.output
    assert "job failed:" in out.output
    job_id = next(
        j["id"]
        for j in client.get("/api/jobs?limit=5").get_json()["items"]
        if j["instruction"] == "doomed by the endpoint"
    )
    shown = legato("show", job_id)
    assert "draft (attempt 1):" in shown.output  # the run's error
    assert "error:" in shown.output and f"legato retry {job_id}" in shown.output


def test_version_and_help(legato):
    version = legato("--version")
    assert version.exit_code == 0 and version.output.startswith("legato, version ")
    helped = legato("-h")
    assert helped.exit_code == 0
    for command in ("watch", "result", "logs", "retry", "submit", "jobs", "show"):
        assert command in helped.output
    assert "_LEGATO_COMPLETE" in helped.output
