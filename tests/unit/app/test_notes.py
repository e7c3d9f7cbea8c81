"""Turning a reflection's output into notes (pure text handling)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.notes import MAX_NOTE_CHARS, parse_notes


def test_bullets_become_notes_and_tags_are_dropped():
    text = "Notes:\n- Keep it short.\n* Use UTC. [REFLECT:1]\n1. Run tests first.\nNotes written"
    assert parse_notes(text) == ["Keep it short.", "Use UTC.", "Run tests first."]


def test_without_bullets_the_first_paragraph_is_the_note():
    assert parse_notes("One lesson here.\n\nOther stuff [STEP:1]") == ["One lesson here."]


def test_empty_output_gives_no_notes():
    assert parse_notes("  \n") == []


@given(st.lists(st.text(min_size=1, max_size=900).map(lambda t: "- " + t), max_size=30))
def test_notes_are_capped_in_number_and_size(lines):
    notes = parse_notes("\n".join(lines))
    assert len(notes) <= 10
    assert all(0 < len(n) <= MAX_NOTE_CHARS for n in notes)
