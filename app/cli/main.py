"""The `legato` command: run the stack, operate it, and talk to its API."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from app.cli.client import ApiClient, ApiClientError
from app.cli.group import api_call, cli, exec_celery
from app.config import Settings, get_settings

# -- running the system -------------------------------------------------------


_INSECURE = click.option(
    "--insecure",
    is_flag=True,
    help="Allow AUTH_MODE=none on a non-loopback address (ALLOW_INSECURE_BIND=true).",
)


def _bind(host: str | None, insecure: bool, settings: Settings) -> str:
    from app.cli.serve import InsecureBind, bind_host

    try:
        return bind_host(
            host,
            auth_mode=settings.auth_mode,
            allowed=insecure or settings.allow_insecure_bind,
        )
    except InsecureBind as exc:
        raise click.UsageError(str(exc)) from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--concurrency", default=None, type=int, help="Worker threads (WORKER_CONCURRENCY).")
@click.option(
    "--verbose", "-v", is_flag=True, help="API and worker logs here too, not only in their files."
)
@_INSECURE
def run(host: str, port: int, concurrency: int | None, verbose: bool, insecure: bool) -> None:
    """Start the API, a worker for every tier, and beat: the whole system, one command."""
    from app.cli.banner import announce_when_ready
    from app.cli.supervisor import supervise
    from app.migrate import upgrade

    settings = get_settings()
    host = _bind(host, insecure, settings)  # before anything starts
    upgrade(settings)
    log_dir = settings.legato_data_dir / "logs"
    logs = {} if verbose else {name: log_dir / f"{name}.log" for name in ("api", "worker")}
    click.echo(
        f"legato: starting the API, a worker for every tier ({','.join(settings.tiers)}) and "
        f"beat; database {_safe_url(settings.sqlalchemy_url)}"
    )
    # Unbuffered, so the log files are current for whoever tails them.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if insecure:
        env["ALLOW_INSECURE_BIND"] = "true"  # the API child checks again
    stack = _embedded_stack(host, port, concurrency, env=env, logs=logs)
    sys.exit(supervise(stack, on_started=announce_when_ready(host, port, settings, logs)))


def _embedded_stack(
    host: str,
    port: int,
    concurrency: int | None,
    env: dict[str, str],
    stdout: int | None = None,
    logs: dict[str, Path] | None = None,
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
        logs=logs or {},
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
            from app.cli.follow import follow_job

            job = api_call(client.submit, instruction=instruction, piece="demo")
            click.echo(f"job {job['id']} submitted to the demo piece")
            code = follow_job(client, job["id"])
        finally:
            stack.stop()
    sys.exit(code)


@cli.command()
@click.option(
    "--host",
    default=None,
    show_default="0.0.0.0; 127.0.0.1 when AUTH_MODE=none",
)
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
@_INSECURE
def api(host: str | None, port: int, workers: int, connections: int, insecure: bool) -> None:
    """Serve the HTTP API with gunicorn (gevent workers)."""
    from app.cli.serve import serve

    settings = get_settings()
    bound = _bind(host, insecure, settings)
    if host is None and settings.auth_mode == "none":
        click.echo(
            f"legato: AUTH_MODE=none, so listening on {bound} only "
            "(AUTH_MODE=token, or --insecure, to listen on every interface)",
            err=True,
        )
    serve(bound, port, workers=workers, connections=connections)


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
    from app.cli.commands.health import heartbeat_path

    settings = get_settings()
    queues = _queues(tiers, settings)
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
    # The worker touches this file for `legato health` (tasks/heartbeat.py).
    os.environ["LEGATO_HEARTBEAT_FILE"] = str(heartbeat_path())
    exec_celery(argv)


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
    exec_celery(
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
