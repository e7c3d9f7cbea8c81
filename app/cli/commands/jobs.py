"""Jobs from the shell: submit, list, show, watch, result, logs, cancel, retry, answer, input.

Every JOB_ID may be a unique prefix of the id. Exit codes: app/cli/exits.py.
"""

from __future__ import annotations

import sys

import click

from app.cli import exits
from app.cli.follow import follow_job, interactive
from app.cli.group import api_call, api_client, cli
from app.cli.output import clip, output_option, print_json, table, took, when
from app.cli.render import describe_event
from app.cli.resolve import resolve_job_id

STATUSES = [
    "queued",
    "running",
    "retry",
    "waiting_human",
    "waiting_subtasks",
    "succeeded",
    "failed",
    "cancelled",
]


def _job_id(client, text: str) -> str:
    return resolve_job_id(client, text)


@cli.command()
@click.argument("instruction", required=False)
@click.option(
    "--file",
    "-F",
    "file",
    type=click.File("r", encoding="utf-8"),
    help="Read the instruction from a file (`-` = stdin).",
)
@click.option(
    "--piece",
    "--workflow",
    "piece",
    default=None,
    help="Piece (or workflow) name (default: the server's DEFAULT_PIECE).",
)
@click.option("--tier", default=None)
@click.option("--max-attempts", type=int, default=None)
@click.option("--public", is_flag=True, help="Let other owners read this job.")
@click.option(
    "--interactive",
    "-i",
    "interactive_mode",
    is_flag=True,
    help="TAKT's interactive mode: rules marked interactive_only are offered (they may ask "
    "you for input).",
)
@click.option("--follow", "-f", is_flag=True, help="Stream progress; the exit code is the job's.")
@output_option
def submit(
    instruction, file, piece, tier, max_attempts, public, interactive_mode, follow, output
) -> None:
    """Submit a job. INSTRUCTION `-` (or --file F) reads the instruction from stdin (F)."""
    if file is not None and instruction is not None:
        raise click.UsageError("give the instruction as an argument or with --file, not both")
    if file is not None:
        text = file.read()
    elif instruction == "-":
        text = sys.stdin.read()
    elif instruction is None:
        raise click.UsageError('give an instruction: legato submit "…" (or -, or --file F)')
    else:
        text = instruction
    if not text.strip():
        raise click.UsageError("the instruction is empty")
    client = api_client()
    job = api_call(
        client.submit,
        instruction=text,
        piece=piece,
        tier=tier,
        max_attempts=max_attempts,
        visibility="public" if public else None,
        interactive=True if interactive_mode else None,
    )
    if output == "json" and not follow:
        print_json(job)
        return
    click.echo(f"job {job['id']} {job['status']} (piece {job['piece_name']}, tier {job['tier']})")
    if not follow:
        click.echo(f"follow it with: legato watch {job['id']}", err=True)
        return
    code = follow_job(client, job["id"])
    if output == "json":
        print_json(api_call(client.job, job["id"]))
    sys.exit(code)


@cli.command("jobs")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--piece", "--workflow", "piece", default=None)
@click.option("--tier", default=None)
@click.option("--owner", default=None, help="Admins: another owner, or * for all.")
@click.option("--search", "-s", default=None, help="Text the instruction contains.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option("--offset", default=0, type=click.IntRange(0))
@output_option
def list_jobs(status, piece, tier, owner, search, limit, offset, output) -> None:
    """List jobs, newest first."""
    page = api_call(
        api_client().jobs,
        status=status,
        piece=piece,
        tier=tier,
        owner=owner,
        q=search,
        limit=limit,
        offset=offset,
    )
    if output == "json":
        print_json(page)
        return
    rows = [
        [
            j["id"][:8],
            j["status"],
            j["piece_name"],
            j["tier"],
            f"{j['attempt']}/{j['max_attempts']}",
            when(j["created_at"]),
            took(j["started_at"], j["finished_at"]),
            clip(j["instruction"], 50),
        ]
        for j in page["items"]
    ]
    headers = ["ID", "STATUS", "PIECE", "TIER", "ATTEMPT", "CREATED", "TOOK", "INSTRUCTION"]
    click.echo(table(headers, rows, empty="no jobs"))
    if page.get("next_offset") is not None:
        click.echo(f"more: legato jobs --offset {page['next_offset']}", err=True)


@cli.command()
@click.argument("job_id")
@output_option
def show(job_id: str, output: str) -> None:
    """Show a job: its state, what it is doing, its runs, errors and result."""
    client = api_client()
    job = api_call(client.job, _job_id(client, job_id))
    if output == "json":
        print_json(job)
        return
    jid = job["id"]
    click.echo(
        f"job {jid}  {job['status']}  piece {job['piece_name']}  tier {job['tier']}  "
        f"attempt {job['attempt']}/{job['max_attempts']}  owner {job['owner_id']}"
    )
    click.echo(
        f"created {when(job['created_at'])}  started {when(job['started_at'])}  "
        f"finished {when(job['finished_at'])}  took {took(job['started_at'], job['finished_at'])}"
        f"  tokens {job['tokens_in']}+{job['tokens_out']}"
    )
    click.echo(f"instruction: {clip(job['instruction'], 200)}")
    if job["status"] not in ("succeeded", "failed", "cancelled"):
        doing = job.get("current_activity") or (
            f"at {job['current_movement']}" if job.get("current_movement") else "waiting to start"
        )
        click.echo(f"now: {doing}")
    rows = [
        [
            f"{r['attempt']}.{r['iteration']}",
            ("⇉ " if r.get("parent_run_id") else "") + r["name"],
            r["status"],
            r["tier"],
            r.get("model") or "-",
            f"{r['tokens_in']}+{r['tokens_out']}",
            f"{r['latency_ms']} ms" if r.get("latency_ms") is not None else "-",
            when(r.get("started_at")),
            r.get("next") or "",
        ]
        for r in job["runs"]
    ]
    headers = ["#", "MOVEMENT", "STATUS", "TIER", "MODEL", "TOKENS", "LATENCY", "STARTED", "NEXT"]
    click.echo("\n" + table(headers, rows, empty="no movement has run yet"))
    for r in job["runs"]:
        if r.get("error"):
            click.echo(f"  {r['name']} (attempt {r['attempt']}): {r['error']}")
    if job.get("error_summary"):
        click.echo(f"\nerror: {job['error_summary']}")
    if job.get("abort_reason") and job["abort_reason"] != job.get("error_summary"):
        click.echo(f"abort reason: {job['abort_reason']}")
    if job["status"] == "waiting_human":
        click.echo(f'\nit waits for you: legato answer {jid} "…"  or  legato input {jid} "…"')
    elif job["status"] in ("failed", "cancelled"):
        click.echo(f"\nretry it: legato retry {jid}  (or --from MOVEMENT)")
    if job.get("result"):
        click.echo("\n" + job["result"].strip())


@cli.command()
@click.argument("job_id")
def watch(job_id: str) -> None:
    """Re-attach to a job: its events so far, then live until it ends (exit code = its end)."""
    client = api_client()
    jid = _job_id(client, job_id)
    job = api_call(client.job, jid)
    click.echo(f"job {jid} {job['status']} (piece {job['piece_name']}, tier {job['tier']})")
    sys.exit(follow_job(client, jid))


@cli.command()
@click.argument("job_id")
@click.option("--wait", "-w", is_flag=True, help="Wait for the job to finish first.")
def result(job_id: str, wait: bool) -> None:
    """Print the job's final answer and nothing else (exit 5 if it has not finished)."""
    client = api_client()
    jid = _job_id(client, job_id)
    if wait:
        follow_job(client, jid, quiet=True)
    job = api_call(client.job, jid)
    if job["status"] == "succeeded":
        click.echo((job.get("result") or "").rstrip("\n"))
        sys.exit(exits.OK)
    reason = job.get("error_summary") or job.get("abort_reason") or job.get("current_activity")
    click.echo(f"job {jid} is {job['status']}{': ' + reason if reason else ''}", err=True)
    sys.exit(exits.for_status(job["status"]))


@cli.command()
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until it ends.")
@output_option
def logs(job_id: str, follow: bool, output: str) -> None:
    """The job's events (JSON: a list; with --follow, one object per line)."""
    client = api_client()
    jid = _job_id(client, job_id)
    if follow:
        for event in client.follow(jid):
            if event.event == "end":
                break
            data = event.json() or {}
            if output == "json":
                click.echo(event.data)
            else:
                click.echo(f"{when(data.get('created_at'))}  {describe_event(data, jid)}")
        return
    items, after = [], 0
    while True:
        page = api_call(client.events, jid, after=after)
        items += page["items"]
        if len(page["items"]) < 500:
            break
        after = page["items"][-1]["id"]
    if output == "json":
        print_json(items)
        return
    for e in items:
        click.echo(f"{when(e['created_at'])}  {describe_event(e, jid)}")
    if not items:
        click.echo("no events yet")


@cli.command()
@click.argument("job_id")
@output_option
def cancel(job_id: str, output: str) -> None:
    """Cancel a job that has not finished."""
    client = api_client()
    job = api_call(client.cancel, _job_id(client, job_id))
    if output == "json":
        print_json(job)
        return
    click.echo(f"job {job['id']} {job['status']}")


@cli.command()
@click.argument("job_id")
@click.option(
    "--from", "movement", default=None, help="Replay from this movement (state restored)."
)
@click.option("--follow", "-f", is_flag=True, help="Then stream it; the exit code is the job's.")
@output_option
def retry(job_id: str, movement: str | None, follow: bool, output: str) -> None:
    """Start a new attempt of a failed or cancelled job: from the first movement, or
    with --from, from MOVEMENT with everything as it was just before it."""
    client = api_client()
    jid = _job_id(client, job_id)
    job = api_call(client.retry, jid, movement)
    if output == "json" and not follow:
        print_json(job)
        return
    where = f"from {movement}" if movement else "from its first movement"
    click.echo(f"job {jid} attempt {job['attempt']} {job['status']} ({where})")
    if not follow:
        click.echo(f"follow it with: legato watch {jid}", err=True)
        return
    events = api_call(client.events, jid, limit=5000)["items"]
    sys.exit(follow_job(client, jid, after=events[-1]["id"] if events else 0))


def _text_or_prompt(text: str | None, what: str) -> str:
    if text == "-":
        return sys.stdin.read()
    if text is not None:
        return text
    if interactive():
        return click.prompt(what)
    raise click.UsageError(f"give the {what} as an argument (or - to read stdin)")


@cli.command("answer")
@click.argument("job_id")
@click.argument("answer", required=False)
@output_option
def answer(job_id: str, answer: str | None, output: str) -> None:
    """Answer the question a job asked (ask_human); the job resumes. Prompts if omitted."""
    client = api_client()
    jid = _job_id(client, job_id)
    text = _text_or_prompt(answer, "answer")
    out = api_call(client.request, "POST", f"/api/jobs/{jid}/answer", json={"answer": text})
    if output == "json":
        print_json(out)
        return
    click.echo(f"job {jid} {out['job_status']}")


@cli.command("input")
@click.argument("job_id")
@click.argument("text", required=False)
@output_option
def give_input(job_id: str, text: str | None, output: str) -> None:
    """Give a job user input; a job waiting for input resumes. Prompts if omitted."""
    client = api_client()
    jid = _job_id(client, job_id)
    body = {"text": _text_or_prompt(text, "input")}
    out = api_call(client.request, "POST", f"/api/jobs/{jid}/inputs", json=body)
    if output == "json":
        print_json(out)
        return
    click.echo(f"input recorded; job {jid} is {out['job_status']}")
