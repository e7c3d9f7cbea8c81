"""Condition syntax: text, ai(), all(), any()."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pieces import ConditionSyntaxError, parse_condition


def test_kinds() -> None:
    assert parse_condition("  Approved ") == ("text", "Approved", [])
    assert parse_condition('ai("It is a bug")') == ("ai", "It is a bug", [])
    assert parse_condition("ai('single quotes')") == ("ai", "single quotes", [])
    assert parse_condition('all("approved")') == ("all", 'all("approved")', ["approved"])
    assert parse_condition('any("a", "b")').args == ["a", "b"]
    assert parse_condition('any( "a" ,"b" )').args == ["a", "b"]


def test_prose_that_starts_like_a_call_stays_text() -> None:
    assert parse_condition("all (minor) issues fixed").kind == "text"
    assert parse_condition("any issues? (none)").kind == "text"
    assert parse_condition("ai-review passed").kind == "text"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("all(approved)", "arguments must be quoted strings separated by commas"),
        ('all("a" "b")', "arguments must be quoted strings separated by commas"),
        ('any("a",)', "trailing comma after the last argument"),
        ("all()", "all() needs at least one quoted argument"),
        ('ai("a", "b")', "ai() takes exactly one argument, got 2"),
    ],
)
def test_syntax_errors(raw: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_condition(raw)


def _quote(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(
    st.sampled_from(["all", "any"]),
    st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=4),
)
def test_quoted_arguments_round_trip(kind: str, args: list[str]) -> None:
    parsed = parse_condition(f"{kind}({', '.join(_quote(a) for a in args)})")
    assert parsed.kind == kind
    assert parsed.args == [a.strip() for a in args]
