"""A job's movement history as short text lines, for handoffs and reflections (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def history_lines(
    runs: Iterable[Any], *, preview_chars: int, error_chars: int, with_attempt: bool = False
) -> list[str]:
    """`- name [status] -> next (error: ...)` per run, each followed by an output preview."""
    lines: list[str] = []
    for run in runs:
        attempt = f"attempt {run.attempt} " if with_attempt else ""
        line = f"- {attempt}{run.name} [{run.status}]"
        if run.next:
            line += f" -> {run.next}"
        if run.error:
            line += f" (error: {run.error[:error_chars]})"
        lines.append(line)
        if run.output:
            lines.append("  output: " + " ".join(run.output.split())[:preview_chars])
    return lines
