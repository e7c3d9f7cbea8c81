"""`legato flower`: Flower, Celery's dashboard, against legato's broker.

Flower is started through legato's own Celery app (`-A tasks.celery_app`), so it uses
the same broker URL and transport options (BROKER_KEY_PREFIX) as the workers and
sees their events. Flower's own FLOWER_* variables (FLOWER_BASIC_AUTH, ...) apply too.

Workers send Celery task events only with WORKER_TASK_EVENTS=true (they cost every
movement a publish). Flower asks running workers to turn them on every 5 s; `legato
flower` asks once more before it starts, so workers already running show their tasks
from the first one Flower can see.
"""

from __future__ import annotations

import os

import click

from app.cli.group import cli


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--port",
    default=lambda: int(os.environ.get("FLOWER_PORT", 5555)),
    type=int,
    show_default="$FLOWER_PORT or 5555",
)
@click.option("--address", default="0.0.0.0", show_default=True)
@click.option(
    "--basic-auth",
    default=None,
    envvar="FLOWER_BASIC_AUTH",
    help="user:password (or FLOWER_BASIC_AUTH); without it Flower's HTTP API stays off.",
)
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower(port: int, address: str, basic_auth: str | None, flower_args: tuple[str, ...]) -> None:
    """Run Flower (task names, arguments and workers) against the broker.

    Extra arguments go to Flower as they are, e.g. `legato flower -- --persistent=True`."""
    from app.cli.group import exec_celery

    _enable_task_events()
    argv = ["flower", f"--port={port}", f"--address={address}"]
    if basic_auth:
        argv.append(f"--basic-auth={basic_auth}")
    exec_celery([*argv, *flower_args])


def _enable_task_events() -> None:
    """Broadcast Celery's enable_events to the running workers (fire and forget)."""
    from app.contract import producer

    try:
        producer().control.enable_events()
    except Exception as exc:  # the broker is down: Flower will say so, and retry
        click.echo(f"legato flower: could not ask workers for task events: {exc}", err=True)
