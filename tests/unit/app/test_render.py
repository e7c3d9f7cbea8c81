"""What `legato submit --follow` prints for each kind of event."""

from __future__ import annotations

from app.cli.render import describe_event, job_line


def _line(kind: str, **data) -> str | None:
    return describe_event({"kind": kind, "data": data})


def test_movement_lines():
    assert _line("movement_started", movement="draft", iteration=1, tier="auto") == (
        "▶ draft (iteration 1, tier auto)"
    )
    assert (
        _line(
            "movement_completed",
            movement="review",
            next="COMPLETE",
            tokens_in=3,
            tokens_out=4,
            latency_ms=5,
        )
        == "✓ review → COMPLETE  [3+4 tok, 5 ms]"
    )
    # a sub-movement routes nowhere itself; a failed one says why
    assert _line("movement_completed", movement="arch", next=None, status="done") == (
        "✓ arch  [0+0 tok, 0 ms]"
    )
    failed = _line("movement_completed", movement="arch", status="error", error="LLM down")
    assert failed == "✗ arch  [0+0 tok, 0 ms]\n  LLM down"
    judged = _line(
        "judgment", movement="arch", rule=1, condition="approved", method="aggregate", next=None
    )
    assert judged == "  ⚖ arch: rule 1 (approved) by aggregate"


def test_the_question_tells_how_to_answer():
    line = _line("human_question", movement="plan", question="Which database?")
    assert "plan asks: Which database?" in line and "legato answer" in line


def test_tool_calls_show_errors_clipped():
    line = _line("tool_call", tool="Read", outcome="error", latency_ms=2, error="x" * 500)
    assert line.startswith("  ⚙ Read error (2 ms): ") and len(line) < 120


def test_retries_and_terminal_states():
    assert "attempt 2 in 30 s" in _line(
        "job_retry_scheduled", attempt=1, next_attempt=2, backoff_s=30, reason="boom"
    )
    assert _line("job_failed", reason="max_movements (4) reached") == (
        "■ failed: max_movements (4) reached"
    )
    assert _line("job_succeeded") == "■ succeeded"


def test_unknown_kinds_still_show_up():
    assert _line("something_new") == "· something_new"
    assert describe_event({}) is None


def test_job_line_shows_where_a_running_job_is():
    job = {
        "id": "j1",
        "status": "running",
        "piece_name": "demo",
        "tier": "auto",
        "attempt": 1,
        "max_attempts": 3,
        "current_movement": "review",
        "instruction": "hello  world",
    }
    assert job_line(job).startswith("j1  running")
    assert "at review" in job_line(job) and job_line(job).endswith("hello world")
