"""The offline ``demo`` provider: answers without a network so ``make run`` works anywhere.

Replies are a pure function of the messages (and the movement name, when given), so a
demo job is reproducible and a test can predict its output.
"""

from __future__ import annotations

import hashlib
import json

DEMO_MODEL = "demo"
_MAX_SUMMARY_LINES = 3
_MAX_LINE_CHARS = 160


def _text_of(content: object) -> str:
    # OpenAI content may be a list of parts ({"type": "text", "text": ...}); only the
    # text parts matter for a summary.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def estimate_tokens(text: str) -> int:
    # Roughly four characters per token for English text; good enough for accounting
    # where the provider reports nothing.
    return max(1, (len(text) + 3) // 4) if text else 0


def _task_section(text: str) -> str:
    """The user request of a legato Phase 1 prompt, or the whole text when it has none."""
    lines = text.splitlines()
    if "## User Request" not in lines:
        return text
    start = lines.index("## User Request") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


def demo_reply(
    messages: list[dict],
    movement: str | None = None,
    kind: str | None = None,
    schema: dict | None = None,
) -> str:
    """A reply for one call: Phase 1 summarises the task; reports, judgments and team
    decompositions get the shape their phase expects, always choosing the first rule,
    so a demo job walks its piece's happy path to COMPLETE."""
    properties = (schema or {}).get("properties", {})
    if "step" in properties:
        return json.dumps({"step": 1, "reason": "demo: the first rule"})
    if "matched_index" in properties:
        return json.dumps({"matched_index": 1, "reason": "demo: the first condition"})
    if "done" in properties and "parts" in properties:
        return json.dumps({"done": True, "reasoning": "demo: nothing more to add", "parts": []})
    if "parts" in properties:
        task = _task_section(last_user_text(messages)).strip()[:_MAX_LINE_CHARS] or "the task"
        part = {"id": "part-1", "title": "All of it", "instruction": task, "timeout_ms": None}
        return json.dumps({"parts": [part]})
    if kind == "judge_tag" and movement:
        return f"[{movement.upper()}:1]"
    if kind in ("report", "report_retry"):
        return (
            f"# Report ({movement or 'demo'})\n\nThe offline demo agent did the work it was given."
        )
    text = _task_section(last_user_text(messages))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    summary = [
        ln if len(ln) <= _MAX_LINE_CHARS else ln[: _MAX_LINE_CHARS - 1] + "…"
        for ln in lines[:_MAX_SUMMARY_LINES]
    ]
    digest = hashlib.sha256(
        "\x1f".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict)).encode()
    ).hexdigest()[:8]
    who = f"demo agent ({movement})" if movement else "demo agent"
    out = [f"This is the offline {who}; no model was called (ref {digest})."]
    if summary:
        out.append("Task, as received:")
        out.extend(f"> {ln}" for ln in summary)
        if len(lines) > len(summary):
            out.append(f"> … ({len(lines) - len(summary)} more lines)")
    else:
        out.append("No task text was given.")
    out.append("Done.")
    return "\n".join(out)


def prompt_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
