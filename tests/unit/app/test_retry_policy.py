"""The job-level backoff list (RETRY_BACKOFF_SECONDS) and its parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.config import Settings


def test_default_backoff_is_30_120_600_and_the_last_repeats():
    settings = Settings()
    assert [settings.backoff_for(n) for n in (1, 2, 3, 4, 9)] == [30, 120, 600, 600, 600]


@pytest.mark.parametrize("raw", ["", "a,b", "-1,5"])
def test_bad_backoff_lists_are_rejected(raw, monkeypatch):
    monkeypatch.setenv("RETRY_BACKOFF_SECONDS", raw or ",")
    with pytest.raises(ValidationError):
        Settings()


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=6))
def test_backoff_follows_the_configured_list(steps):
    settings = Settings(retry_backoff_seconds=",".join(map(str, steps)))
    for attempt in range(1, len(steps) + 3):
        assert settings.backoff_for(attempt) == steps[min(attempt, len(steps)) - 1]
