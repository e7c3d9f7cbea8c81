"""Selector answers, dynamic parallel members and dynamic facets (pure)."""

from __future__ import annotations

import json

import pytest

from pieces import Answer, Movement, Piece
from pieces.dynamic import PARALLEL_SELECT, Fanout, choose, report_paths
from pieces.exchange import READ_ONLY_TOOLS, Call
from pieces.facet_select import FACET_SELECT, choose_facets, merged
from pieces.model import (
    DynamicFacets,
    DynamicParallel,
    FacetCandidate,
    FacetPool,
    OutputContract,
)
from pieces.selection import SelectionInvalid, parse_selection, selector_schema


def picked(*ids: str, kind: str = PARALLEL_SELECT, raw: str | None = None) -> Answer:
    content = raw if raw is not None else json.dumps({"selected_ids": list(ids), "rationale": "r"})
    return Answer(kind=kind, content=content)


# -- the selector contract -------------------------------------------------------------


def test_a_selection_keeps_the_order_given_and_checks_every_id() -> None:
    assert parse_selection(picked("b", "a"), ["a", "b", "c"]) == (["b", "a"], "r")
    fenced = picked(raw='Here:\n```json\n{"selected_ids": ["c"], "rationale": "x"}\n```')
    assert parse_selection(fenced, ["a", "c"]) == (["c"], "x")
    bad = {
        "unknown": (picked("z"), 'unknown candidate id "z"'),
        "repeated": (picked("a", "a"), "must not repeat"),
        "too many": (picked("a", "b"), "selected 2 candidates, more than 1"),
        "prose": (picked(raw="the first one"), "no structured selection"),
        "failed": (Answer(PARALLEL_SELECT, status="error", error="HTTP 400"), "HTTP 400"),
        "no rationale": (picked(raw='{"selected_ids": []}'), "rationale must be text"),
    }
    for why, (answer, message) in bad.items():
        with pytest.raises(SelectionInvalid, match=message):
            parse_selection(answer, ["a", "b"], 1)
        assert why


def test_the_schema_restricts_ids_and_their_number() -> None:
    schema = selector_schema(["a", "b"], 1)
    ids = schema["properties"]["selected_ids"]
    assert ids["items"]["enum"] == ["a", "b"] and ids["maxItems"] == 1 and ids["uniqueItems"]
    assert "maxItems" not in selector_schema(["a"])["properties"]["selected_ids"]


# -- dynamic parallel ------------------------------------------------------------------


def member(name: str, description: str | None = None) -> Movement:
    return Movement(name=name, description=description)


def dynamic_step(mode: str = "replace", fixed: tuple[str, ...] = ("f",)) -> Movement:
    pool = ["p1", "p2", "p3"]
    return Movement(
        name="review",
        kind="parallel",
        parallel=[member(n) for n in fixed] + [member(p, f"{p} desc") for p in pool],
        dynamic=DynamicParallel(
            fixed=list(fixed),
            pool=pool,
            pool_descriptions={p: f"{p} desc" for p in pool},
            mode=mode,
            selector_persona="You pick.",
            selector_instruction="Be picky.",
        ),
    )


def workflow(*movements: Movement) -> Piece:
    return Piece(
        name="w", dialect="workflow", initial_movement=movements[0].name, movements=list(movements)
    )


def decide(movement: Movement, answers=(), previous=None, reports=None):
    return choose(
        workflow(movement),
        movement,
        list(answers),
        task="t",
        report_dir="/ws/reports",
        reports=reports or {},
        changed=["a.py"],
        previous=previous,
    )


def test_a_static_parallel_step_takes_part_whole_without_a_call() -> None:
    static = Movement(name="s", kind="parallel", parallel=[member("x"), member("y")])
    assert decide(static) == Fanout(("x", "y"))


def test_the_selector_is_a_fresh_read_only_call_over_the_pool() -> None:
    call = decide(dynamic_step())
    assert isinstance(call, Call) and call.kind == PARALLEL_SELECT and call.phase == 0
    assert call.judge and call.tools and call.tool_names == READ_ONLY_TOOLS
    assert not call.conversation
    assert call.system.startswith("You pick.\n\n")
    assert call.schema["properties"]["selected_ids"]["items"]["enum"] == ["p1", "p2", "p3"]
    assert "Selector guidance:\nBe picky." in call.prompt
    assert "- p2: p2 desc" in call.prompt and "Changed file paths:\n- a.py" in call.prompt
    assert "Previously selected" not in call.prompt  # replace mode


def test_members_are_the_fixed_then_the_chosen_in_pool_order() -> None:
    out = decide(dynamic_step(), [picked("p3", "p1")])
    assert out == Fanout(("f", "p1", "p3"), ("p1", "p3"), "r")


def test_cumulative_mode_adds_the_previous_choice_replace_does_not() -> None:
    previous = {"selected": ["p2"], "rationale": "before"}
    cumulative = dynamic_step("cumulative")
    call = decide(cumulative, previous=previous)
    assert "Previously selected pool ids:\np2" in call.prompt
    assert "re-entry after a prior round" in call.prompt
    assert decide(cumulative, [picked("p1")], previous).members == ("f", "p1", "p2")
    assert decide(dynamic_step(), [picked("p1")], previous).members == ("f", "p1")


def test_an_empty_set_of_members_or_a_bad_answer_stops_the_step() -> None:
    no_fixed = dynamic_step(fixed=())
    assert decide(no_fixed, [picked()]) == (
        'Dynamic parallel selector for step "review" chose no member, and the step has no '
        "fixed member"
    )
    assert decide(dynamic_step(), [picked()]) == Fanout(("f",), (), "r")
    assert "unknown candidate id" in decide(dynamic_step(), [picked("zz")])


def test_selectors_are_shown_the_reports_written_so_far() -> None:
    draft = Movement(name="draft", output_contracts=[OutputContract(name="draft.md")])
    plan = Movement(name="plan", output_contracts=[OutputContract(name="plan.md")])
    piece = workflow(draft, plan)
    written = {"plan.md": "x", "draft.md": "y", "other.md": "z"}
    paths = report_paths(piece, "/ws/reports/", written, ["extra.md", "plan.md"])
    assert paths == ["/ws/reports/plan.md", "/ws/reports/draft.md"]


# -- dynamic facets --------------------------------------------------------------------

POOL = FacetPool(
    candidates=[
        FacetCandidate(id="style", description="tone", policies=["P-style", "P-shared"]),
        FacetCandidate(id="domain", description="facts", knowledge=["K-domain"]),
        FacetCandidate(id="both", description="all", policies=["P-shared"], knowledge=["K-x"]),
    ]
)


def faceted(max_selected: int | None = None) -> tuple[Piece, Movement]:
    step = Movement(
        name="write",
        policies=["P-own"],
        knowledge=["K-own"],
        instruction="Write it.",
        dynamic_facets=DynamicFacets(pool="focus", max_selected=max_selected),
    )
    piece = Piece(
        name="w",
        dialect="workflow",
        initial_movement="write",
        movements=[step],
        facet_pools={"focus": POOL},
    )
    return piece, step


def pick_facets(piece, step, answers=(), previous=None):
    return choose_facets(
        piece,
        step,
        list(answers),
        task="t",
        iteration=2,
        report_dir="r",
        reports={},
        changed=[],
        previous=previous,
    )


def test_chosen_facets_follow_the_steps_own_in_pool_order_each_once() -> None:
    _, step = faceted()
    out = merged(step, POOL, ["both", "style"])
    assert out.policies == ["P-own", "P-style", "P-shared"]
    assert out.knowledge == ["K-own", "K-x"]
    assert merged(step, POOL, []) is step


def test_the_facet_selector_sees_the_target_prompt_and_the_limit() -> None:
    piece, step = faceted(max_selected=1)
    call = pick_facets(piece, step, previous={"selected_ids": ["domain"], "rationale": "why"})
    assert call.kind == FACET_SELECT and call.schema["properties"]["selected_ids"]["maxItems"] == 1
    assert "Policy:\nP-own" in call.prompt and "Instruction:\nWrite it." in call.prompt
    assert "Entry type:\nre-entry" in call.prompt and "selected_ids:\n- domain" in call.prompt
    assert "Step iteration:\n2" in call.prompt and "Max selected:\n1" in call.prompt
    out = pick_facets(piece, step, [picked("domain", kind=FACET_SELECT)])
    assert out.knowledge == ["K-own", "K-domain"]
    assert pick_facets(piece, step, [picked(kind=FACET_SELECT)]) is step  # none is allowed
    too_many = pick_facets(piece, step, [picked("style", "domain", kind=FACET_SELECT)])
    assert too_many.endswith("selected 2 candidates, more than 1")


def test_an_unknown_pool_is_reported_not_guessed() -> None:
    piece, step = faceted()
    lost = piece.model_copy(update={"facet_pools": {}})
    assert (
        pick_facets(lost, step)
        == 'Dynamic facet selector for step "write": unknown facet pool "focus"'
    )
