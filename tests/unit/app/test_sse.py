"""The CLI's side of an event stream: parsing, and resuming where it stopped."""

from __future__ import annotations

import pytest

from app.cli.sse import MAX_SLOT_WAITS, SseEvent, StreamResume, parse_sse, retry_after


def test_parse_events_ids_comments_and_retry_fields() -> None:
    lines = [
        "retry: 1000",
        ": following job events",
        "",
        "id: 7",
        "event: movement_started",
        'data: {"a": 1}',
        "",
        ": stream lifetime reached (STREAM_MAX_SECONDS); reconnect",
        "",
    ]
    assert list(parse_sse(lines)) == [
        SseEvent(event="movement_started", data='{"a": 1}', id="7"),
    ]


def test_resume_sends_the_last_id_seen_and_only_then() -> None:
    resume = StreamResume()
    assert resume.headers() == {}
    first = [SseEvent("a", "1", "3"), SseEvent("b", "2", None), SseEvent("c", "3", "9")]
    assert list(resume.track(first)) == first
    assert resume.headers() == {"Last-Event-ID": "9"}
    # A stream that ended without new events keeps the position.
    assert list(resume.track([])) == []
    assert resume.headers() == {"Last-Event-ID": "9"}


def test_refusals_are_waited_out_a_bounded_number_of_times_in_a_row() -> None:
    resume = StreamResume()
    assert all(resume.may_wait_for_slot() for _ in range(MAX_SLOT_WAITS))
    assert not resume.may_wait_for_slot()
    list(resume.track([SseEvent("a", "1", "1")]))  # a stream was granted: count again
    assert resume.may_wait_for_slot()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        (None, 5.0),
        ("soon", 5.0),
        ("nan", 5.0),
        ("-4", 0.0),
        ("9e9", 60.0),
    ],
)
def test_retry_after(header, seconds) -> None:
    assert retry_after(header) == seconds
