"""Status tags, rule selection, the judge prompt and reply, and all()/any() joins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pieces import (
    evaluate_aggregate,
    judge_prompt,
    last_tag,
    match_by_tag,
    needs_judge,
    parse_judge_reply,
    strip_tags,
    unmatched_summary,
)

from .helpers import movement, parallel

# Text that cannot contain a tag of its own, nor turn one into an echoed "[STEP:n] = ...".
plain = st.text(alphabet=st.characters(blacklist_characters="[]="), max_size=80)


@given(plain, st.integers(0, 999), plain)
def test_tag_anywhere_is_found(before: str, n: int, after: str) -> None:
    assert last_tag(f"{before}[STEP:{n}]{after}") == n


@given(st.lists(st.tuples(plain, st.integers(0, 50)), min_size=1, max_size=8), plain)
def test_last_tag_wins(chunks: list[tuple[str, int]], tail: str) -> None:
    text = "".join(f"{t}[STEP:{n}]" for t, n in chunks) + tail
    assert last_tag(text) == chunks[-1][1]


@given(plain)
def test_no_tag_no_index(text: str) -> None:
    assert last_tag(text) is None


def test_tag_spelling_variants() -> None:
    assert last_tag("done [step:2]") == 2
    assert last_tag("done [ STEP : 3 ]") == 3
    assert last_tag("[STEP:x]") is None
    assert last_tag("") is None and last_tag(None) is None


@given(st.text(alphabet=" \t\n", max_size=3), plain)
def test_a_tag_followed_by_equals_is_an_echo(space: str, rest: str) -> None:
    assert last_tag(f"[STEP:1]{space}= {rest}") is None


def test_echoed_status_list_is_not_a_choice() -> None:
    output = "Options were:\n[STEP:0] = Approved\n[STEP:1] = Needs changes\nI pick [STEP:1]"
    assert last_tag(output) == 1
    assert last_tag("[STEP:0] = Approved\n[STEP:1] = Needs changes") is None


def test_strip_tags() -> None:
    assert strip_tags("The report.\n\n[STEP:0]\n") == "The report."


def test_match_by_tag_selects_the_rule() -> None:
    mv = movement(("Approved", "COMPLETE"), ("Needs changes", "draft"))
    match = match_by_tag(mv, "ok then\n[STEP:1]")
    assert match is not None
    assert (match.index, match.next, match.condition, match.method) == (
        1,
        "draft",
        "Needs changes",
        "tag",
    )
    assert not needs_judge(mv, "ok then\n[STEP:1]")


def test_tag_out_of_range_or_missing_needs_the_judge() -> None:
    mv = movement("A", "B")
    for output in ("no tag at all", "[STEP:2]", "[STEP:99]"):
        assert match_by_tag(mv, output) is None
        assert needs_judge(mv, output)


def test_ai_conditions_are_always_judged() -> None:
    mv = movement('ai("It is a bug")', "Plain")
    assert match_by_tag(mv, "[STEP:0]") is None
    assert needs_judge(mv, "[STEP:0]")
    assert not needs_judge(mv, "[STEP:1]")
    assert mv.rules[0].condition == "It is a bug"


def test_aggregate_rules_are_not_tag_targets() -> None:
    mv = parallel({"a": ["ok"], "b": ["ok"]}, 'all("ok")', "Plain")
    assert match_by_tag(mv, "[STEP:0]") is None
    assert match_by_tag(mv, "[STEP:1]") is not None


def test_only_aggregates_never_need_a_judge() -> None:
    mv = parallel({"a": ["ok"]}, 'all("ok")')
    assert not needs_judge(mv, "anything")
    assert not needs_judge(movement(), "anything")


@given(st.lists(st.sampled_from(["t", "ai"]), min_size=1, max_size=6), st.integers(-1, 8))
def test_needs_judge_iff_no_plain_tag_match(kinds: list[str], tag: int) -> None:
    mv = movement(*[f'ai("c{i}")' if k == "ai" else f"c{i}" for i, k in enumerate(kinds)])
    output = "out" if tag < 0 else f"out [STEP:{tag}]"
    assert needs_judge(mv, output) == (match_by_tag(mv, output) is None)


def test_judge_prompt_lists_judgeable_conditions_only() -> None:
    mv = parallel({"a": ["ok"]}, 'all("ok")', 'ai("Looks risky")', "Fine")
    prompt = judge_prompt(mv, "the output")
    assert "[STEP:1] = Looks risky" in prompt
    assert "[STEP:2] = Fine" in prompt
    assert "[STEP:0]" not in prompt.split("## Answer")[0]
    assert "the output" in prompt


def test_judge_prompt_clips_long_output_but_keeps_the_end() -> None:
    mv = movement("A")
    output = "start " + "x" * 50_000 + " THE-END"
    prompt = judge_prompt(mv, output)
    assert len(prompt) < 14_000
    assert "THE-END" in prompt and "start" in prompt and "characters omitted" in prompt


def test_parse_judge_reply() -> None:
    mv = movement(("Approved", "COMPLETE"), ('ai("Needs changes")', "fix"))
    assert parse_judge_reply(mv, "[STEP:1]").next == "fix"
    assert parse_judge_reply(mv, "[STEP:1]").method == "judge"
    assert parse_judge_reply(mv, "I think [STEP:0]").next == "COMPLETE"
    assert parse_judge_reply(mv, "approved.").index == 0
    assert parse_judge_reply(mv, '"Needs changes"').index == 1
    assert parse_judge_reply(mv, "[STEP:NONE]") is None
    assert parse_judge_reply(mv, "[STEP:5]") is None
    assert parse_judge_reply(mv, "") is None and parse_judge_reply(mv, None) is None


def test_parse_judge_reply_ignores_aggregate_indexes() -> None:
    mv = parallel({"a": ["ok"]}, 'all("ok")', "Fine")
    assert parse_judge_reply(mv, "[STEP:0]") is None
    assert parse_judge_reply(mv, "[STEP:1]").condition == "Fine"


def test_appendix_and_user_input_flags_travel_with_the_match() -> None:
    from pieces import Movement, Rule

    mv = Movement(
        name="m",
        rules=[Rule(index=0, condition="Ask", next="m", appendix="Q:", requires_user_input=True)],
    )
    match = match_by_tag(mv, "[STEP:0]")
    assert match.appendix == "Q:" and match.requires_user_input


def test_unmatched_summary() -> None:
    mv = movement("A", "B", name="review")
    text = unmatched_summary(mv, "word " * 500)
    assert text.startswith('no rule of "review" matched ([STEP:0] A; [STEP:1] B)')
    assert len(text) < 600
    assert "no output" in unmatched_summary(mv, "")


# ---------------------------------------------------------------- aggregates

OUTCOMES = ["ok", "fail", "blocked"]


def _reference(kind: str, args: list[str], subs: list[str], results: dict[str, str]) -> bool:
    """all()/any() spelled out case by case, independent of the implementation."""
    if len(args) == 1:
        wanted = {name: args[0] for name in subs}
    else:
        wanted = {name: args[i] for i, name in enumerate(subs)}
    hits = 0
    for name in subs:
        got = results.get(name)
        if got is not None and got.lower() == wanted[name].lower():
            hits += 1
    return hits == len(subs) if kind == "all" else hits > 0


@st.composite
def aggregate_cases(draw):
    n = draw(st.integers(1, 4))
    subs = [f"s{i}" for i in range(n)]
    results = {
        s: o
        for s in subs
        if (o := draw(st.sampled_from([*OUTCOMES, None, "OK", "Fail"]))) is not None
    }
    specs = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["all", "any"]))
        count = draw(st.sampled_from([1, n]))
        args = [draw(st.sampled_from(OUTCOMES)) for _ in range(count)]
        specs.append((kind, args))
    return subs, results, specs


@given(aggregate_cases())
def test_aggregate_matches_reference(case) -> None:
    subs, results, specs = case
    texts = [f"{k}({', '.join(chr(34) + a + chr(34) for a in args)})" for k, args in specs]
    mv = parallel({s: OUTCOMES for s in subs}, *texts)
    expected = next(
        (i for i, (k, args) in enumerate(specs) if _reference(k, args, subs, results)), None
    )
    match = evaluate_aggregate(mv, results)
    assert (match.index if match else None) == expected
    if match:
        assert match.method == "aggregate" and match.next == f"next{expected}"


def test_aggregate_examples() -> None:
    mv = parallel(
        {"alpha": OUTCOMES, "beta": OUTCOMES},
        'all("ok")',
        'all("ok", "fail")',
        'any("fail")',
        'any("blocked", "blocked")',
    )

    def pick(a: str | None, b: str | None) -> int | None:
        results = {k: v for k, v in (("alpha", a), ("beta", b)) if v is not None}
        match = evaluate_aggregate(mv, results)
        return match.index if match else None

    assert pick("ok", "ok") == 0
    assert pick("ok", "fail") == 1
    assert pick("fail", "ok") == 2
    assert pick("fail", "blocked") == 2
    assert pick("blocked", "ok") == 3
    assert pick("ok", "blocked") == 3
    assert pick(None, "ok") is None
    assert pick(None, None) is None
    assert pick("  OK ", "ok") == 0  # outcomes compare loosely


def test_aggregate_ignores_plain_rules_and_extra_results() -> None:
    mv = parallel({"a": ["ok"]}, "Plain text", 'any("ok")')
    match = evaluate_aggregate(mv, {"a": "ok", "stranger": "ok"})
    assert match is not None and match.index == 1
