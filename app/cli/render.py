"""How the CLI prints jobs and their events (pure: dicts in, lines out)."""

from __future__ import annotations

from typing import Any


def job_line(job: dict[str, Any]) -> str:
    where = (
        f" at {job['current_movement']}"
        if job.get("current_movement") and job["status"] in ("queued", "running")
        else ""
    )
    return (
        f"{job['id']}  {job['status']:<16} {job['piece_name']:<12} {job['tier']:<10} "
        f"attempt {job['attempt']}/{job['max_attempts']}{where}  "
        f"{_clip(job['instruction'], 50)}"
    )


def describe_event(event: dict[str, Any]) -> str | None:
    kind, data = event.get("kind"), event.get("data") or {}
    if kind == "job_submitted":
        return f"queued: piece {data.get('piece')} on tier {data.get('tier')}"
    if kind == "movement_started":
        return (
            f"▶ {data.get('movement')} (iteration {data.get('iteration')}, tier {data.get('tier')})"
        )
    if kind == "movement_completed":
        return (
            f"✓ {data.get('movement')} → {data.get('next')}  "
            f"[{data.get('tokens_in', 0)}+{data.get('tokens_out', 0)} tok, "
            f"{data.get('latency_ms', 0)} ms]"
        )
    if kind == "llm_retry":
        return (
            f"↻ {data.get('movement')}: LLM retry {data.get('attempt')}: "
            f"{data.get('reason')} (waiting {data.get('wait_s')} s)"
        )
    if kind == "movement_failed":
        return f"✗ {data.get('movement')}: {data.get('reason')}"
    if kind and kind.startswith("job_"):
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"■ {kind.removeprefix('job_')}{reason}"
    return f"· {kind}" if kind else None


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
