"""What `legato run` says once the stack answers: where things are and what to type next."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click
import requests

from app.config import Settings

READY_TIMEOUT = 90.0


def banner(host: str, port: int, settings: Settings, logs: dict[str, Path]) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    lines = [
        "",
        "legato is running",
        f"  console   {base}/ui/",
        f"  API       {base}   (docs: {base}/docs)",
    ]
    if logs:
        lines.append("  logs      " + "  ".join(str(p) for p in logs.values()))
    if settings.auth_mode == "token":
        lines.append("  sign in   with a token from: legato token create --owner NAME")
    env = "" if port == 8000 and shown == "127.0.0.1" else f"LEGATO_API_URL={base} "
    lines += [
        "",
        "next, in another terminal:",
        f'  {env}legato submit "Write a haiku about durable queues" --follow',
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def announce_when_ready(
    host: str, port: int, settings: Settings, logs: dict[str, Path]
) -> Callable:
    """An on_started hook: wait until /readyz answers, then print the banner."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host

    def hook(stack) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and stack.exited() is None:
            try:
                if requests.get(f"http://{shown}:{port}/readyz", timeout=2).status_code == 200:
                    click.echo(banner(host, port, settings, logs))
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        if stack.exited() is None:
            click.echo(f"legato: the API is not ready after {READY_TIMEOUT:.0f} s; see the logs")

    return hook
