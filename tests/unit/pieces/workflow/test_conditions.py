"""The workflow dialect's rule condition grammar and its canonical form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pieces.conditions import ConditionSyntaxError
from pieces.workflow.conditions import (
    Condition,
    canonical,
    format_condition,
    parse_condition,
    references_companion,
    rule_fields,
    semantic_label,
)


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("approved", ("label", "approved", [], None)),
        ("  needs fix  ", ("label", "needs fix", [], None)),
        ("COMPLETE", ("label", "COMPLETE", [], None)),
        ("when(structured.s.x == 1)", ("when", None, [], "structured.s.x == 1")),
        ("ok && when(context.a.b)", ("label_when", "ok", [], "context.a.b")),
        ('all("ok")', ("all", None, ["ok"], None)),
        ('any("a", "b")', ("any", None, ["a", "b"], None)),
        ("any(a, b)", ("any", None, ["a", "b"], None)),
        ('all(\\"a\\", \\"b\\")', ("all", None, ["a", "b"], None)),
        ('all("say \\"hi\\"")', ("all", None, ['say "hi"'], None)),
        (
            'any("ok && when(structured.s.v > 2)")',
            ("any", None, ["ok && when(structured.s.v > 2)"], None),
        ),
        ('any("error") && when(context.c.retry)', ("any", None, ["error"], "context.c.retry")),
        ("label with (parentheses) inside", ("label", "label with (parentheses) inside", [], None)),
    ],
)
def test_parsing(raw: str, fields) -> None:
    assert rule_fields(parse_condition(raw)) == fields


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('ai("looks done")', "workflow rule conditions do not support ai()"),
        ("", "must not be empty"),
        ("all()", "invalid workflow rule condition: all()"),
        ("when()", "empty when() expression"),
        ("when(x == 1)", 'unsupported when operand "x"'),
        ("a && b", "invalid workflow rule condition: a && b"),
        ("when(true) && ok", "invalid workflow rule condition"),
        ("a && when(true) && when(false)", "invalid workflow rule condition"),
        ("ok &&", "contains an empty clause"),
        ('all("a",)', "invalid aggregate condition format"),
        ('all("")', "invalid aggregate condition format"),
        ('all(all("a"))', "aggregate condition target must be valid for a parallel sub-step"),
        ("any(a, , b)", "invalid aggregate condition format"),
        ("all(x", "invalid workflow rule condition"),
    ],
)
def test_refusals(raw: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError) as err:
        parse_condition(raw)
    assert message in str(err.value)


def test_spellings_share_one_canonical_form() -> None:
    forms = {
        canonical(c)
        for c in ['all("a", "b")', "all(a, b)", 'all(\\"a\\",\\"b\\")', " all( a ,b ) "]
    }
    assert forms == {'all("a", "b")'}
    assert canonical("ok&&when(true)") == "ok && when(true)"


def test_labels_and_companion_state() -> None:
    assert semantic_label(parse_condition("ok && when(true)")) == "ok"
    assert semantic_label(parse_condition("when(true)")) is None
    assert references_companion(parse_condition("ok && when(companion.round.done == true)"))
    assert not references_companion(parse_condition('when(structured.s.note == "companion.x")'))


def test_nesting_is_bounded() -> None:
    with pytest.raises(ConditionSyntaxError):
        parse_condition("all(" * 500 + "x" + ")" * 500)


LABEL = st.text(alphabet="abcdefgh XYZ_-", min_size=1, max_size=10).map(str.strip).filter(bool)
WHEN = st.sampled_from(["true", "structured.s.x == 1", 'context.c.v != "a b"', "effect.e.t.ok"])


@st.composite
def member_conditions(draw) -> Condition:
    kind = draw(st.sampled_from(["semantic", "when", "and"]))
    if kind == "semantic":
        return Condition("semantic", label=draw(LABEL))
    when = Condition("when", expression=draw(WHEN))
    if kind == "when":
        return when
    return Condition("and", left=Condition("semantic", label=draw(LABEL)), right=when)


@st.composite
def conditions(draw) -> Condition:
    if draw(st.booleans()):
        return draw(member_conditions())
    targets = tuple(draw(st.lists(member_conditions(), min_size=1, max_size=3)))
    return Condition("aggregate", aggregate=draw(st.sampled_from(["all", "any"])), targets=targets)


@settings(max_examples=200, deadline=None)
@given(conditions())
def test_the_canonical_form_parses_back_to_the_same_condition(cond: Condition) -> None:
    text = format_condition(cond)
    assert parse_condition(text) == cond
    assert canonical(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='alnywhe()"\\,& |=.1', max_size=30))
def test_the_parser_only_ever_raises_syntax_errors(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError:
        pass
