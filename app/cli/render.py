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


def describe_event(event: dict[str, Any], job_id: str | None = None) -> str | None:
    """One line for a job event, as `legato submit --follow` prints it.

    Hints name the real job id when it is known (never a placeholder to fill in)."""
    kind, data = event.get("kind"), event.get("data") or {}
    render = _RENDERERS.get(kind)
    if render is not None:
        return render(data).replace("<job id>", job_id or "JOB_ID")
    if kind and kind.startswith("job_"):
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"■ {kind.removeprefix('job_')}{reason}"
    return f"· {kind}" if kind else None


def _tool_call(d: dict[str, Any]) -> str:
    error = f": {_clip(d['error'], 80)}" if d.get("error") else ""
    return f"  ⚙ {d.get('tool')} {d.get('outcome')} ({d.get('latency_ms', 0)} ms){error}"


def _next(d: dict) -> str:
    # A sub-movement or team part has no next of its own: its parent routes.
    return f" → {d['next']}" if d.get("next") else ""


_RENDERERS = {
    "job_submitted": lambda d: f"queued: piece {d.get('piece')} on tier {d.get('tier')}",
    "movement_started": lambda d: (
        f"▶ {d.get('movement')} (iteration {d.get('iteration')}, tier {d.get('tier')})"
    ),
    "movement_completed": lambda d: (
        f"{'✗' if d.get('status') == 'error' else '✓'} {d.get('movement')}{_next(d)}  "
        f"[{d.get('tokens_in', 0)}+{d.get('tokens_out', 0)} tok, {d.get('latency_ms', 0)} ms]"
        + (f"\n  {d['error']}" if d.get("error") else "")
    ),
    "parallel_started": lambda d: (
        f"⇉ {d.get('movement')}: {', '.join(d.get('sub_movements') or [])} in parallel"
    ),
    "loop_monitor": lambda d: (
        f"⟲ loop {' → '.join(d.get('cycle') or [])} seen {d.get('cycle_count')} times; "
        f"judge chose {d.get('verdict')}"
    ),
    "llm_retry": lambda d: (
        f"↻ {d.get('movement')}: LLM retry {d.get('attempt')}: {d.get('reason')} "
        f"(waiting {d.get('wait_s')} s)"
    ),
    "model_fallback": lambda d: f"! {d.get('movement')}: {d.get('warning')}",
    "tool_call": _tool_call,
    "phase_started": lambda d: (
        f"  · phase {d.get('phase')} {d.get('kind')}{' ' + d['name'] if d.get('name') else ''}…"
    ),
    "phase_completed": lambda d: (
        f"  · phase {d.get('phase')} {d.get('kind')}{' ' + d['name'] if d.get('name') else ''}"
        f" [{d.get('tokens_in', 0)}+{d.get('tokens_out', 0)} tok, {d.get('latency_ms', 0)} ms]"
    ),
    "judgment": lambda d: (
        f"  ⚖ {d.get('movement')}: rule {d.get('rule')} ({d.get('condition')}) by "
        f"{d.get('method')}{_next(d)}"
    ),
    "movement_failed": lambda d: f"✗ {d.get('movement')}: {d.get('reason')}",
    "movement_timed_out": lambda d: f"✗ {d.get('movement')}: lease expired (worker lost)",
    "movement_retried": lambda d: f"↻ {d.get('movement')}: running it again",
    "human_question": lambda d: (
        f"? {d.get('movement')} asks: {d.get('question')}\n"
        '  answer with: legato answer <job id> "..."'
    ),
    "waiting_input": lambda d: (
        f'⏸ waiting for user input before {d.get("movement")} (legato input <job id> "...")'
    ),
    "waiting_subtasks": lambda d: f"⏸ {d.get('movement')}: waiting for its subtasks",
    "call_started": lambda d: (
        f"⤷ {d.get('movement')}: calls workflow {d.get('workflow')} as job "
        f"{d.get('child_job_id')} (from iteration {d.get('iteration')})"
    ),
    "call_finished": lambda d: (
        f"⤶ {d.get('movement')}: {d.get('workflow')} returned {d.get('result')} "
        f"({d.get('status')})" + (f": {d['reason']}" if d.get("reason") else "")
    ),
    "step_delayed": lambda d: (
        f"⏲ {d.get('movement')}: waits {d.get('delay_ms')} ms (delay_before_ms), "
        f"not before {d.get('not_before')}"
    ),
    "task_enqueued": lambda d: (
        f"⇢ {d.get('movement')}: enqueued workflow {d.get('workflow')} as job {d.get('job')}"
        + (f" (not done without a forge: {', '.join(d['ignored'])})" if d.get("ignored") else "")
    ),
    "subtask_ended": lambda d: f"  subtask {d.get('index')} {d.get('status')}",
    "input_received": lambda d: "← user input received",
    "job_resumed": lambda d: f"▶ resumed ({d.get('reason')})",
    "job_retry_scheduled": lambda d: (
        f"↻ attempt {d.get('attempt')} failed: {d.get('reason')}; attempt "
        f"{d.get('next_attempt')} in {d.get('backoff_s')} s"
    ),
    "job_retry_started": lambda d: f"▶ attempt {d.get('attempt')} starts (with a handoff)",
    "job_requeued": lambda d: (
        f"↻ {d.get('movement')}: {d.get('reason')}; requeued without using an attempt"
    ),
}


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
