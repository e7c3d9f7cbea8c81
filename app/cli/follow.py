"""Following a job from the terminal: `submit --follow`, `watch`, `retry --follow`, `demo`.

Events are printed as they arrive. When the job goes quiet (a model endpoint that
is down, a long call), a status line says what it is doing. When it waits for an
answer or input, an interactive terminal is asked for it and the job goes on;
otherwise the command prints how to answer, with the real job id, and exits 4.
"""

from __future__ import annotations

import sys
import time

import click

from app.cli import exits
from app.cli.client import ApiClient, ApiClientError
from app.cli.render import describe_event
from app.cli.sse import KEEPALIVE

QUIET_SECONDS = 20.0
WAITING_KINDS = ("human_question", "waiting_input")


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def follow_job(client: ApiClient, job_id: str, *, after: int = 0, quiet: bool = False) -> int:
    """Stream the job's events until it ends (or waits with no one to ask); an exit code."""
    last_output = time.monotonic()
    last_status = None
    # The last question or input request not yet followed by a resume. ask_human is
    # recorded mid-movement; the job starts waiting only when the movement ends.
    waiting: dict | None = None
    while True:
        try:
            for event in client.follow(job_id, after=after, keepalives=True):
                if event.id and event.id.isdigit():
                    after = int(event.id)
                if event.event == "end":
                    break
                if event.event == KEEPALIVE:
                    if waiting is not None and _waits(client, job_id):
                        break
                    if time.monotonic() - last_output > QUIET_SECONDS:
                        last_status = _status_line(client, job_id, last_status)
                        last_output = time.monotonic()
                    continue
                data = event.json() or {}
                line = describe_event(data, job_id)
                if line and not quiet:
                    click.echo(line)
                    last_output = time.monotonic()
                kind = data.get("kind")
                if kind in WAITING_KINDS and (waiting is None or kind == "human_question"):
                    waiting = data  # ask_human's question, then its pause: keep the question
                elif kind in ("job_resumed", "human_answered", "input_received"):
                    waiting = None
                if waiting is not None and _waits(client, job_id):
                    break
        except ApiClientError as exc:
            raise click.ClickException(exc.message) from None
        job = _job(client, job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return _finish(job)
        if job["status"] == "waiting_human":
            waiting = waiting or {"kind": "waiting_input", "data": {}}
            if not interactive():
                click.echo(_how_to_respond(job_id, waiting), err=True)
                return exits.WAITING
            _respond(client, job_id, waiting)
            waiting = None


def _waits(client: ApiClient, job_id: str) -> bool:
    return _job(client, job_id)["status"] == "waiting_human"


def _job(client: ApiClient, job_id: str) -> dict:
    try:
        return client.job(job_id)
    except ApiClientError as exc:
        raise click.ClickException(exc.message) from None


def _finish(job: dict) -> int:
    status = job["status"]
    if status == "succeeded":
        click.echo("\n" + (job.get("result") or "").strip())
        return exits.OK
    reason = job.get("error_summary") or job.get("abort_reason") or ""
    click.echo(f"job {status}: {reason}".rstrip(": "), err=True)
    return exits.for_status(status)


def _status_line(client: ApiClient, job_id: str, previous: str | None) -> str:
    """Say what a quiet job is doing (printed again only when it changes, or every pause)."""
    try:
        job = client.job(job_id)
    except ApiClientError as exc:
        line = f"… cannot read the job: {exc.message}"
    else:
        doing = job.get("current_activity") or (
            f"at {job['current_movement']}" if job.get("current_movement") else ""
        )
        line = f"… {job['status']}{': ' + doing if doing else ''}"
        running = [r for r in job.get("runs", []) if r["status"] in ("running", "pending")]
        if running and running[-1].get("error"):
            line += f" (last error: {running[-1]['error']})"
    click.echo(line)
    return line


def _how_to_respond(job_id: str, event: dict) -> str:
    data = event.get("data") or {}
    if event.get("kind") == "human_question":
        return (
            f"job {job_id} waits for an answer to: {data.get('question')}\n"
            f'answer with: legato answer {job_id} "..."'
        )
    before = f" before {data['movement']}" if data.get("movement") else ""
    return f'job {job_id} waits for your input{before}\ngive it with: legato input {job_id} "..."'


def _respond(client: ApiClient, job_id: str, event: dict) -> None:
    question = event.get("kind") == "human_question"
    text = click.prompt("your answer" if question else "your input", err=True)
    path, body = (
        (f"/api/jobs/{job_id}/answer", {"answer": text})
        if question
        else (f"/api/jobs/{job_id}/inputs", {"text": text})
    )
    try:
        client.request("POST", path, json=body)
    except ApiClientError as exc:
        raise click.ClickException(exc.message) from None
