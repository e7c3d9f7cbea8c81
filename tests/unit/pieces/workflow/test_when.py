"""The when() expression language: parsing, strict evaluation, missing state."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pieces.workflow.when import WhenError, evaluate_when, parse_ref, parse_when, strict_equal

STATE = {
    "structured": {
        "plan": {
            "action": "enqueue",
            "score": 0.7,
            "count": 3,
            "ready": True,
            "nothing": None,
            "findings": [
                {"severity": "high", "fixed": False, "tags": ["security", "api"]},
                {"severity": "low", "fixed": True, "tags": []},
            ],
            "labels": ["a", "b"],
        }
    },
    "context": {"route": {"queue": {"pending_count": 0, "running_count": 2}}},
    "effect": {"ship": {"merge_pr": {"success": True}}},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("true", True),
        ("false", False),
        ('structured.plan.action == "enqueue"', True),
        ('structured.plan.action != "enqueue"', False),
        ("structured.plan.score >= 0.5", True),
        ("structured.plan.score < 0.5", False),
        ("structured.plan.count > 2 && structured.plan.count <= 3", True),
        ("structured.plan.ready", True),
        ("structured.plan.nothing == null", True),
        ("structured.plan.count == 3.0", True),
        ("structured.plan.ready == 1", False),  # strict: a boolean is never a number
        ('structured.plan.count == "3"', False),  # strict: no string conversion
        ("structured.plan.findings.length == 2", True),
        ('structured.plan.findings.0.severity == "high"', True),
        ('structured.plan.findings[1].severity == "low"', True),
        ('contains(structured.plan.labels, "b")', True),
        ('contains(structured.plan.findings.severity, "medium")', False),
        ('exists(structured.plan.findings, item.severity == "high" && item.fixed == false)', True),
        ('exists(structured.plan.findings, item.severity == "low" && item.fixed == false)', False),
        ('exists(structured.plan.findings, contains(item.tags, "api"))', True),
        ("context.route.queue.pending_count > 0 || context.route.queue.running_count > 0", True),
        ("effect.ship.merge_pr.success == true", True),
        ("false || false || structured.plan.ready", True),
        ("true && false || true", True),  # && binds tighter than ||
        ('structured.plan.action == "a || b"', False),  # separators inside strings are text
    ],
)
def test_evaluation(expression: str, expected: bool) -> None:
    assert evaluate_when(expression, STATE) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("structured.plan.missing == 1", 'Missing workflow state value "structured.plan.missing"'),
        ("structured.other.x == 1", 'Missing workflow state scope "other" in structured'),
        ("context.route.queue.pending_count.x == 1", "Missing workflow state value"),
        ("structured.plan.findings.5.severity == 1", "Missing workflow state value"),
        ("structured.plan.action > 1", 'operator ">" requires numeric operands'),
        ("structured.plan.count", "bare when clause must resolve to boolean"),
        ("companion.state.done == true", "Missing workflow companion state"),
        ('contains(structured.plan.action, "x")', "contains() requires an array expression"),
        ("exists(structured.plan.count, item.x == 1)", "exists() requires an array expression"),
    ],
)
def test_state_problems_are_errors_not_false(expression: str, message: str) -> None:
    with pytest.raises(WhenError) as err:
        evaluate_when(expression, STATE)
    assert message in str(err.value)


def test_short_circuit_skips_clauses_that_would_fail() -> None:
    assert evaluate_when("true || structured.nowhere.x == 1", STATE) is True
    assert evaluate_when("false && structured.nowhere.x == 1", STATE) is False


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", 'when expression "" contains an empty clause'),
        ("a ||", "contains an empty clause"),
        ("(structured.a.b == 1", "invalid when expression"),
        ('"unclosed == 1', "invalid when expression"),
        ("x.y == 1", 'unsupported when operand "x.y"'),
        ('structured.plan.a > "b"', 'operator ">" requires numeric operands'),
        ("42", "bare when clause must be boolean or a workflow state reference"),
        ("structured.plan", "bare when clause requires a path-bearing"),
        ("effect.ship.merge_pr == 1", 'effect references must use "effect.<step>.<type>.<field>"'),
        ("widget.a.b == 1", 'unsupported when operand "widget.a.b"'),
        ("exists(structured.plan.f, item.x > 1)", 'exists() only supports "=="'),
        ("exists(structured.plan.f)", "invalid exists() expression"),
        ("contains(structured.plan.f, 1, 2)", "contains() requires exactly two arguments"),
        ('contains("x", 1)', "contains() requires a workflow state reference"),
        ('structured.plan.a == "bad\\q"', "invalid escape sequence"),
        ("structured.plan.a[x] == 1", "invalid workflow state reference"),
        ("item.x == 1", 'unsupported when operand "item.x"'),
    ],
)
def test_parse_errors(expression: str, message: str) -> None:
    with pytest.raises(WhenError) as err:
        parse_when(expression)
    assert message in str(err.value)


def test_references() -> None:
    ref = parse_ref("structured.plan.findings[0].tags[1]")
    assert (ref.root, ref.scope, ref.path) == ("structured", "plan", ("findings", "0", "tags", "1"))
    assert parse_ref("companion.round.notes").path == ("round", "notes")


# --- properties ----------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
)


def _literal(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return json.dumps(value)


def _printable(value) -> bool:
    # Literal syntax has no exponent form and no leading '+'; such numbers are state-only.
    if isinstance(value, float):
        return "e" not in repr(value) and "inf" not in repr(value)
    return True


@settings(max_examples=200, deadline=None)
@given(left=JSON_SCALARS, right=JSON_SCALARS)
def test_equality_is_strict(left, right) -> None:
    state = {"structured": {"s": {"a": left, "b": right}}}
    same = type(left) is type(right) or (
        isinstance(left, int | float)
        and isinstance(right, int | float)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    )
    assert evaluate_when("structured.s.a == structured.s.b", state) is (same and left == right)
    assert evaluate_when("structured.s.a != structured.s.b", state) is not (same and left == right)


@settings(max_examples=200, deadline=None)
@given(value=JSON_SCALARS)
def test_a_literal_equals_the_state_value_it_prints(value) -> None:
    if not _printable(value) or (isinstance(value, str) and any(c in value for c in "\n")):
        return
    state = {"structured": {"s": {"v": value}}}
    assert evaluate_when(f"structured.s.v == {_literal(value)}", state) is True
    assert strict_equal(value, value)


NUMBERS = st.integers(min_value=-1000, max_value=1000)


@settings(max_examples=200, deadline=None)
@given(a=NUMBERS, b=NUMBERS, op=st.sampled_from([">", "<", ">=", "<=", "==", "!="]))
def test_ordering_matches_python(a: int, b: int, op: str) -> None:
    state = {"context": {"c": {"a": a}}}
    expected = {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b}
    assert evaluate_when(f"context.c.a {op} {b}", state) is expected[op]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=4), min_size=1, max_size=4))
def test_or_of_ands(alternatives: list[list[bool]]) -> None:
    text = " || ".join(" && ".join("true" if b else "false" for b in alt) for alt in alternatives)
    assert evaluate_when(text, {}) is any(all(alt) for alt in alternatives)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='abstrucedx.()[]"\\|&=!<>, 0123456789', max_size=40))
def test_the_parser_only_ever_raises_when_errors(text: str) -> None:
    try:
        parse_when(text)
    except WhenError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(st.fixed_dictionaries({"k": st.integers(0, 3)}), max_size=6), k=st.integers(0, 3)
)
def test_exists_is_any_over_items(items: list[dict], k: int) -> None:
    state = {"structured": {"s": {"items": items}}}
    expected = any(item["k"] == k for item in items)
    assert evaluate_when(f"exists(structured.s.items, item.k == {k})", state) is expected
    assert evaluate_when(f"contains(structured.s.items.k, {k})", state) is expected
