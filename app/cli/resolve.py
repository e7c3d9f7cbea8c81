"""Job ids from what a user types: a full id or any unique prefix of one.

Prefixes are resolved by the API (`GET /api/jobs?id_prefix=`), first among the
caller's own jobs, then (for admins) everyone's. An ambiguous prefix lists the
candidates; an unknown one says so plainly.
"""

from __future__ import annotations

import re
import uuid

import click

from app.cli.client import ApiClient, ApiClientError
from app.cli.output import clip, table, when

HEX = re.compile(r"^[0-9a-fA-F-]{1,36}$")
SHOWN = 10


def resolve_job_id(client: ApiClient, text: str) -> str:
    text = text.strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not HEX.match(text) or not text.replace("-", ""):
        raise click.BadParameter(
            f"{text!r} is not a job id (hex digits, e.g. the first 8 of `legato jobs`)",
            param_hint="JOB_ID",
        )
    matches = _matches(client, text, owner=None)
    if not matches:
        matches = _matches(client, text, owner="*")
    if not matches:
        raise click.ClickException(f"no job id starts with {text!r} (see `legato jobs`)")
    if len(matches) > 1:
        count = f"more than {SHOWN}" if len(matches) > SHOWN else str(len(matches))
        more = f" (the newest {SHOWN})" if len(matches) > SHOWN else ""
        rows = [
            [
                j["id"],
                j["status"],
                j["piece_name"],
                when(j["created_at"]),
                clip(j["instruction"], 40),
            ]
            for j in matches[:SHOWN]
        ]
        listing = table(["ID", "STATUS", "PIECE", "CREATED", "INSTRUCTION"], rows)
        raise click.ClickException(
            f"job id prefix {text!r} is ambiguous: it matches {count} jobs; type more of "
            f"the id{more}:\n{listing}"
        )
    return matches[0]["id"]


def _matches(client: ApiClient, prefix: str, owner: str | None) -> list[dict]:
    params = {"id_prefix": prefix, "limit": SHOWN + 1}
    if owner:
        params["owner"] = owner
    try:
        return client.jobs(**params)["items"]
    except ApiClientError as exc:
        if owner and exc.status in (401, 403):  # not an admin: own jobs were the search
            return []
        raise click.ClickException(exc.message) from None
