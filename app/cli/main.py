"""The `legato` command: run the stack, operate it, and talk to its API."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from app.cli.client import ApiClient, ApiClientError
from app.cli.render import describe_event, job_line
from app.config import Settings, get_settings


def _client() -> ApiClient:
    return ApiClient()


def _api_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ApiClientError as exc:
        detail = f"\n{json.dumps(exc.details, indent=2)}" if exc.details else ""
        raise click.ClickException(f"{exc.message}{detail}") from None


@click.group()
def cli() -> None:
    """legato: durable multi-agent LLM workflows on Celery."""


# -- running the system -------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--concurrency", default=None, type=int, help="Worker threads (WORKER_CONCURRENCY).")
def run(host: str, port: int, concurrency: int | None) -> None:
    """Start the API, a worker for every tier, and beat: the whole system, one command."""
    from app.cli.supervisor import supervise
    from app.migrate import upgrade

    settings = get_settings()
    upgrade(settings)
    click.echo(
        f"legato: API on http://{host}:{port}  database {_safe_url(settings.sqlalchemy_url)}"
        f"  broker {_safe_url(settings.celery_broker_url)}  tiers "
        f"{','.join(settings.tiers)}"
    )
    click.echo("legato: Ctrl-C stops everything")
    sys.exit(supervise(_embedded_stack(host, port, concurrency, env=dict(os.environ))))


def _embedded_stack(
    host: str, port: int, concurrency: int | None, env: dict[str, str], stdout: int | None = None
):
    from app.cli.supervisor import Stack, legato_argv

    worker = ["worker", "--tier", "all", "--beat"]
    if concurrency:
        worker += ["--concurrency", str(concurrency)]
    return Stack(
        children={
            "worker": legato_argv(*worker),
            "api": legato_argv("api", "--host", host, "--port", str(port)),
        },
        env=env,
        stdout=stdout,
    )


@cli.command()
@click.argument("instruction", default="Write a short note on why durable queues matter.")
@click.option("--port", default=0, type=int, help="Default: a free port.")
def demo(instruction: str, port: int) -> None:
    """Start a throwaway embedded stack, run the demo piece to success, and stop it."""
    import tempfile
    import time

    from app.migrate import upgrade

    data_dir = tempfile.mkdtemp(prefix="legato-demo-")
    port = port or _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "BROKER_URL", "LLM_BASE_URL")
    }
    env.update(LEGATO_DATA_DIR=data_dir, AUTH_MODE="none")
    upgrade(Settings(legato_data_dir=Path(data_dir), database_url=None))
    log_path = Path(data_dir) / "stack.log"
    click.echo(f"legato demo: starting the embedded stack (log: {log_path})")
    with open(log_path, "wb") as log:
        stack = _embedded_stack("127.0.0.1", port, 4, env=env, stdout=log.fileno()).start()
        try:
            client = ApiClient(base_url=f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.request("GET", "/readyz")
                    break
                except ApiClientError:
                    if stack.exited() or time.monotonic() > deadline:
                        raise click.ClickException(
                            f"the stack did not start; see {log_path}"
                        ) from None
                    time.sleep(0.5)
            job = _api_call(client.submit, instruction=instruction, piece="demo")
            click.echo(f"job {job['id']} submitted to the demo piece")
            code = _follow(client, job["id"])
        finally:
            stack.stop()
    sys.exit(code)


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", 8000)),
    type=int,
    show_default="$PORT or 8000",
)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--connections",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Simultaneous clients per worker (gevent), event-stream followers included.",
)
def api(host: str, port: int, workers: int, connections: int) -> None:
    """Serve the HTTP API with gunicorn (gevent workers)."""
    from app.cli.serve import serve

    serve(host, port, workers=workers, connections=connections)


@cli.command()
@click.option(
    "--tier",
    "tiers",
    multiple=True,
    required=True,
    help="Tier queue(s) to consume; repeat or comma-separate; 'all' = every tier and maintenance.",
)
@click.option("--concurrency", type=int, default=None, help="Default: WORKER_CONCURRENCY.")
@click.option(
    "--pool",
    type=click.Choice(["threads", "prefork", "solo", "gevent"]),
    default="threads",
    show_default=True,
)
@click.option("--beat", is_flag=True, help="Also run the beat scheduler in this process.")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(
    tiers: tuple[str, ...], concurrency: int | None, pool: str, beat: bool, loglevel: str
) -> None:
    """Run a Celery worker for one or more tiers."""
    settings = get_settings()
    queues = _queues(tiers, settings)
    from tasks.celery_app import celery_app

    argv = [
        "worker",
        "-Q",
        ",".join(queues),
        "-P",
        pool,
        "-c",
        str(concurrency or settings.worker_concurrency),
        "-n",
        f"{'+'.join(queues) if len(queues) < 3 else 'all'}@%h",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["-B", "--schedule", str(settings.legato_data_dir / "celerybeat-schedule")]
    celery_app.worker_main(argv)


def _queues(tiers: tuple[str, ...], settings) -> list[str]:
    wanted = [t.strip() for spec in tiers for t in spec.split(",") if t.strip()]
    if "all" in wanted:
        return list(settings.queues)
    unknown = [t for t in wanted if t not in settings.queues and not t.startswith("agent.")]
    if unknown:
        raise click.BadParameter(
            f"unknown tier(s) {', '.join(unknown)}; TIERS is {','.join(settings.tiers)}",
            param_hint="--tier",
        )
    return wanted


@cli.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run the Celery beat scheduler (the maintenance loop). Run exactly one."""
    settings = get_settings()
    from tasks.celery_app import celery_app

    celery_app.start(
        [
            "beat",
            "--loglevel",
            loglevel,
            "--schedule",
            str(settings.legato_data_dir / "celerybeat-schedule"),
        ]
    )


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from app.migrate import upgrade

    upgrade(get_settings(), revision)
    click.echo(f"database at {revision}: {_safe_url(get_settings().sqlalchemy_url)}")


@cli.group()
def token() -> None:
    """API tokens (admin; talks to the database directly)."""


@token.command("create")
@click.option("--owner", required=True, help="Owner id the token acts as.")
@click.option("--admin", is_flag=True, help="May list across owners and run admin operations.")
@click.option("--name", default=None, help="A label to recognise the token by.")
def token_create(owner: str, admin: bool, name: str | None) -> None:
    """Create a token and print it once; only its hash is stored."""
    from app import create_app
    from app.auth import create_token
    from app.db import db as database

    with create_app().app_context():
        value = create_token(owner, admin=admin, name=name)
        database.session.commit()
    click.echo(value)


# -- talking to the API -------------------------------------------------------


@cli.command()
@click.argument("instruction")
@click.option("--piece", default=None, help="Piece name (default: the server's DEFAULT_PIECE).")
@click.option("--tier", default=None)
@click.option("--max-attempts", type=int, default=None)
@click.option("--public", is_flag=True, help="Let other owners read this job.")
@click.option(
    "--follow", "-f", is_flag=True, help="Stream progress; exit non-zero unless it succeeds."
)
def submit(
    instruction: str,
    piece: str | None,
    tier: str | None,
    max_attempts: int | None,
    public: bool,
    follow: bool,
) -> None:
    """Submit a job."""
    client = _client()
    job = _api_call(
        client.submit,
        instruction=instruction,
        piece=piece,
        tier=tier,
        max_attempts=max_attempts,
        visibility="public" if public else None,
    )
    click.echo(f"job {job['id']} {job['status']} (piece {job['piece_name']}, tier {job['tier']})")
    if follow:
        sys.exit(_follow(client, job["id"]))


def _follow(client: ApiClient, job_id: str) -> int:
    status = None
    try:
        for event in client.follow(job_id):
            if event.event == "end":
                status = (event.json() or {}).get("status")
                break
            line = describe_event(event.json() or {})
            if line:
                click.echo(line)
    except ApiClientError as exc:
        raise click.ClickException(exc.message) from None
    job = _api_call(client.job, job_id)
    status = job["status"]
    if status == "succeeded":
        click.echo("\n" + (job.get("result") or "").strip())
        return 0
    click.echo(
        f"job {status}: {job.get('error_summary') or job.get('abort_reason') or ''}", err=True
    )
    return 1


@cli.command()
@click.option("--status", default=None)
@click.option("--piece", default=None)
@click.option("--owner", default=None, help="Admins: another owner, or * for all.")
@click.option("--limit", default=20, show_default=True, type=int)
def jobs(status: str | None, piece: str | None, owner: str | None, limit: int) -> None:
    """List jobs, newest first."""
    page = _api_call(_client().jobs, status=status, piece=piece, owner=owner, limit=limit)
    for job in page["items"]:
        click.echo(job_line(job))
    if not page["items"]:
        click.echo("no jobs")


@cli.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
def show(job_id: str, as_json: bool) -> None:
    """Show a job and its movement runs."""
    job = _api_call(_client().job, job_id)
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    click.echo(job_line(job))
    for run in job["runs"]:
        click.echo(
            f"  #{run['iteration']:<3} {run['name']:<20} {run['status']:<10} "
            f"-> {run['next'] or '':<12} {run['tokens_in']}+{run['tokens_out']} tok "
            f"{run['latency_ms'] or 0} ms"
        )
    if job.get("result"):
        click.echo("\n" + job["result"].strip())
    elif job.get("error_summary"):
        click.echo(f"\nerror: {job['error_summary']}")


@cli.command()
@click.argument("job_id")
def cancel(job_id: str) -> None:
    """Cancel a job that has not finished."""
    job = _api_call(_client().cancel, job_id)
    click.echo(f"job {job['id']} {job['status']}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _safe_url(url: str) -> str:
    """A URL fit for a log line: any password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rsplit("@", 1)[-1]


def _load_command_modules() -> None:
    import importlib
    import pkgutil

    from app.cli import commands

    for module in pkgutil.iter_modules(commands.__path__):
        importlib.import_module(f"{commands.__name__}.{module.name}")


_load_command_modules()


if __name__ == "__main__":
    # Run the importable module's group, where the command modules registered.
    from app.cli.main import cli as legato

    legato()
