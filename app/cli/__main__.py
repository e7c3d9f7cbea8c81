"""`python -m app.cli` is `legato`."""

from app.cli.main import cli

cli()
