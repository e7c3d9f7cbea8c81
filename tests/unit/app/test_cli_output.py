"""CLI output helpers: tables with headers, durations, exit codes, SSE keepalives."""

from __future__ import annotations

from app.cli import exits
from app.cli.output import table, took
from app.cli.render import describe_event
from app.cli.sse import KEEPALIVE, parse_sse


def test_table_pads_columns_under_their_headers():
    out = table(["ID", "STATUS", "NOTE"], [["ab", "running", "x"], ["abcdef", "ok", "long note"]])
    lines = out.splitlines()
    assert lines[0] == "ID      STATUS   NOTE"
    assert lines[1] == "ab      running  x"
    assert lines[2] == "abcdef  ok       long note"
    assert table(["A"], [], empty="nothing") == "nothing"


def test_durations_read_naturally():
    start = "2026-01-01T10:00:00+00:00"
    assert took(start, "2026-01-01T10:00:00.250000+00:00") == "250 ms"
    assert took(start, "2026-01-01T10:00:12.300000+00:00") == "12.3 s"
    assert took(start, "2026-01-01T10:04:05+00:00") == "4 min 05 s"
    assert took(start, None) == "-"


def test_exit_codes_are_distinct_per_ending():
    codes = [exits.for_status(s) for s in ("succeeded", "failed", "cancelled", "waiting_human")]
    assert codes == [0, 1, 3, 4]
    assert exits.for_status("running") == exits.RUNNING == 5
    assert len({*codes, exits.USAGE, exits.RUNNING}) == 6


def test_hints_carry_the_real_job_id():
    line = describe_event(
        {"kind": "human_question", "data": {"movement": "plan", "question": "Which?"}}, "1234abcd"
    )
    assert 'legato answer 1234abcd "..."' in line and "<job id>" not in line
    line = describe_event({"kind": "waiting_input", "data": {"movement": "ask"}}, "1234abcd")
    assert "legato input 1234abcd" in line


def test_keepalive_comments_surface_only_when_asked():
    lines = [": keepalive", "", "event: x", "data: {}", ""]
    assert [e.event for e in parse_sse(lines)] == ["x"]
    assert [e.event for e in parse_sse(lines, comments=True)] == [KEEPALIVE, "x"]


def test_a_workflow_call_shows_its_child_job_and_result():
    started = {
        "movement": "review",
        "workflow": "peer-review",
        "child_job_id": "c0ffee",
        "iteration": 3,
    }
    line = describe_event({"kind": "call_started", "data": started})
    assert line == "⤷ review: calls workflow peer-review as job c0ffee (from iteration 3)"
    finished = {"movement": "review", "workflow": "peer-review", "result": "ABORT"}
    finished |= {"status": "failed", "reason": "Max steps reached"}
    line = describe_event({"kind": "call_finished", "data": finished})
    assert line == "⤶ review: peer-review returned ABORT (failed): Max steps reached"
