"""The `legato` command group and what every command module shares: the API client
and how an API error becomes a CLI error, and how the CLI becomes a Celery process.

app/cli/main.py adds the commands that run the system and imports every module of
app/cli/commands/; each registers its commands here. Nothing here imports a command.
"""

from __future__ import annotations

import json
import os
import sys

import click

from app.cli.client import ApiClient, ApiClientError


def api_client() -> ApiClient:
    return ApiClient()


def api_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ApiClientError as exc:
        detail = f"\n{json.dumps(exc.details, indent=2)}" if exc.details else ""
        raise click.ClickException(f"{exc.message}{detail}") from None


def exec_celery(argv: list[str]) -> None:
    """Become `celery -A tasks.celery_app ...`: the CLI never imports the engine itself."""
    command = [sys.executable, "-m", "celery", "-A", "tasks.celery_app", *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="legato", prog_name="legato")
def cli() -> None:
    """legato: durable multi-agent LLM workflows on Celery.

    Client commands talk to LEGATO_API_URL (default http://127.0.0.1:8000) with
    LEGATO_TOKEN. A JOB_ID may be any unique prefix of the id. Exit codes: 0 succeeded,
    1 failed or error, 2 usage, 3 cancelled, 4 waiting for an answer or input, 5 not
    finished yet. Shell completion: eval "$(_LEGATO_COMPLETE=bash_source legato)"."""
