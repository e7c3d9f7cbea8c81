"""TAKT's status tags and 0.31's condition syntax (SEMANTICS.md §2, §3.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pieces import ConditionSyntaxError, parse_piece_condition
from pieces.tags import detect_judge, detect_tag, status_tag


def test_tag_is_the_name_upper_cased_with_a_one_based_number() -> None:
    assert status_tag("arch-review", 2) == "[ARCH-REVIEW:2]"
    assert status_tag("_loop_judge_review_fix", 1) == "[_LOOP_JUDGE_REVIEW_FIX:1]"


def test_tag_detection_is_case_insensitive_and_the_last_one_wins() -> None:
    assert detect_tag("first [REVIEW:1] then [review:3]", "review") == 2
    assert detect_tag("[Review:2]", "REVIEW") == 1


def test_other_movements_tags_and_non_positive_numbers_are_ignored() -> None:
    text = "[ARCH-REVIEW:1] [SECURITY-REVIEW:2]"
    assert detect_tag(text, "arch-review") == 0
    assert detect_tag(text, "security-review") == 1
    assert detect_tag("[REVIEW:0]", "review") == -1
    assert detect_tag("no tag here", "review") == -1
    assert detect_tag(None, "review") == -1


def test_huge_numbers_are_no_tag() -> None:
    assert detect_tag("[R:" + "9" * 5000 + "]", "r") == -1
    assert detect_judge("[JUDGE:" + "1" * 40 + "]") == -1


def test_judge_tag_takes_the_first_occurrence() -> None:
    assert detect_judge("[judge:2] or maybe [JUDGE:3]") == 1
    assert detect_judge("nothing") == -1


def test_names_with_regex_characters_are_matched_literally() -> None:
    assert detect_tag("[A.B:2]", "a.b") == 1
    assert detect_tag("[AXB:2]", "a.b") == -1


@given(st.text(alphabet="abc-_", min_size=1, max_size=12), st.integers(1, 99), st.text(max_size=40))
def test_a_written_tag_is_found_after_any_prose(name: str, number: int, prose: str) -> None:
    text = f"{prose} {status_tag(name, number)}"
    assert detect_tag(text, name) == number - 1


@pytest.mark.parametrize(
    ("raw", "kind", "label", "args"),
    [
        ("Approved", "label", "Approved", []),
        ('ai("The code is safe")', "ai", "The code is safe", []),
        ('all("approved")', "all", None, ["approved"]),
        ('any("A", "B", "C")', "any", None, ["A", "B", "C"]),
        ('all("ok", "fail")', "all", None, ["ok", "fail"]),
        ("all (minor) issues fixed", "label", "all (minor) issues fixed", []),
        ('ai("x") and more', "label", 'ai("x") and more', []),
    ],
)
def test_conditions_parse_as_0_31_reads_them(raw, kind, label, args) -> None:
    cond = parse_piece_condition(raw)
    assert (cond.kind, cond.label, cond.args) == (kind, label, args)


def test_an_aggregate_without_quoted_arguments_is_an_error() -> None:
    with pytest.raises(ConditionSyntaxError, match="double-quoted"):
        parse_piece_condition("all(approved)")
