"""completion_retry's episode and the companion rounds, driven call by call (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pieces import Answer, Call
from pieces.companions import (
    FOLLOW_UP,
    MODERATE,
    REVIEW,
    SELECT,
    choose,
    moderated,
    parse_findings,
    rounds,
)
from pieces.completion import (
    JUDGE,
    RETRY,
    DecisionInvalid,
    episode,
    judge_prompt,
    parse_decision,
)
from pieces.model import Companion, CompanionSpec, CompletionRetry, Movement
from pieces.probes import DIFF, Changes

Reply = Callable[[Call], Answer]


def drive(step: Callable[[list[Answer]], object], reply: Reply) -> tuple[object, list[Call]]:
    """Answer every call the program asks for until it returns something else."""
    answers: list[Answer] = []
    calls: list[Call] = []
    out = step(answers)
    while isinstance(out, Call):
        calls.append(out)
        answers.append(reply(out))
        out = step(answers)
    return out, calls


def said(call: Call, content: str = "", status: str = "done", structured=None) -> Answer:
    return Answer(call.kind, content, call.name, status, structured)


def decision(complete: bool, *paths: str) -> str:
    gaps = [
        {"kind": "family_lifecycle_gap", "contract_family": "api", "path": p, "reason": "open"}
        for p in paths
    ]
    return json.dumps({"complete": complete, "reason": "because", "missing_obligations": gaps})


# -- completion_retry ------------------------------------------------------------------


def fixer(min_retry: int = 0, max_retry: int = 2) -> Movement:
    config = CompletionRetry(min_retry=min_retry, max_retry=max_retry, retry_instruction="Again.")
    return Movement(name="fix", completion_retry=config)


def run_episode(movement: Movement, reply: Reply, baseline: str | None = "base"):
    def step(answers):
        return episode(
            movement,
            answers,
            task="t",
            prompt="PROMPT",
            response="first",
            baseline=baseline,
            after_retry=lambda k, content: f"{content} (reviewed {k})",
        )

    return drive(step, reply)


def answers_for(judges: list[str], retries: dict[int, Answer] | None = None) -> Reply:
    def reply(call: Call) -> Answer:
        if call.kind == DIFF:
            return said(call, "+x", structured={"available": True, "paths": ["x"], "digest": "d"})
        if call.kind == JUDGE:
            return said(call, judges[int(call.name)])
        given = (retries or {}).get(int(call.name))
        return given if given is not None else said(call, f"retry {call.name}")

    return reply


def kinds(calls: list[Call]) -> list[str]:
    return [f"{c.kind}:{c.name}" for c in calls if c.kind != DIFF]


def test_complete_at_once_ends_without_a_rerun() -> None:
    out, calls = run_episode(fixer(), answers_for([decision(True)]))
    assert out == ("first", None)
    assert kinds(calls) == ["completion_judge:0"]


def test_min_retry_reruns_even_a_complete_answer_and_judges_each_rerun() -> None:
    complete = [decision(True)] * 3
    out, calls = run_episode(fixer(min_retry=2, max_retry=4), answers_for(complete))
    assert kinds(calls) == [
        "completion_judge:0",
        "completion_retry:1",
        "completion_judge:1",
        "completion_retry:2",
        "completion_judge:2",
    ]
    assert out == ("retry 2 (reviewed 2)", None)
    retry = next(c for c in calls if c.kind == RETRY)
    # In the step's conversation, with its tools; a forced re-run has no gaps to add.
    assert retry.conversation and retry.tools and not retry.fresh and retry.tolerant
    assert retry.prompt == "PROMPT\n\nAgain."


def test_still_incomplete_at_max_retry_reports_the_last_gaps() -> None:
    judges = [decision(False, "a.py"), decision(False, "b.py"), decision(False, "c.py")]
    (content, diagnostic), calls = run_episode(fixer(max_retry=2), answers_for(judges))
    second = [c for c in calls if c.kind == RETRY][1]
    assert second.prompt == "PROMPT\n\nAgain.\n\n- [family_lifecycle_gap] api: b.py — open"
    assert content == "retry 2 (reviewed 2)"
    assert diagnostic.text() == "\n".join(
        [
            "## Incomplete completion diagnostic (Phase 2 only)",
            "- kind: max_retry_reached",
            "- attempts: 3",
            "- retries_used: 2",
            "- reason: because",
            "- [family_lifecycle_gap] api: c.py — open",
        ]
    )


def test_a_failed_judge_ends_the_episode_at_once_whatever_min_retry_says() -> None:
    (content, diagnostic), calls = run_episode(fixer(min_retry=2), answers_for(["not json"]))
    assert kinds(calls) == ["completion_judge:0"]
    assert content == "first"
    assert (diagnostic.kind, diagnostic.attempts, diagnostic.retries_used) == (
        "judge_unavailable",
        1,
        0,
    )


def test_a_failed_rerun_keeps_the_previous_answer_and_is_not_judged() -> None:
    failed = Answer(RETRY, "", "1", "error", error="HTTP 500 from endpoint")
    judges = [decision(False, "a.py"), "unused", decision(True)]
    out, calls = run_episode(fixer(max_retry=2), answers_for(judges, {1: failed}))
    assert kinds(calls) == [
        "completion_judge:0",
        "completion_retry:1",
        "completion_retry:2",
        "completion_judge:2",
    ]
    # The second re-run still carries the gaps of the last judgment.
    assert [c for c in calls if c.kind == RETRY][1].prompt.endswith("a.py — open")
    assert out == ("retry 2 (reviewed 2)", None)
    empty = said(Call(RETRY, 1, "", "2"), "  ")
    (content, diagnostic), _ = run_episode(
        fixer(max_retry=2), answers_for([decision(False, "a.py")], {1: failed, 2: empty})
    )
    assert content == "first" and diagnostic.kind == "reviewer_retry_failed"
    assert diagnostic.reason == "the re-run answered nothing" and diagnostic.gaps


def test_the_judge_is_a_fresh_read_only_structured_call_with_the_evidence() -> None:
    _, calls = run_episode(fixer(), answers_for([decision(True)]))
    probe, judge = calls
    assert probe.local == {"type": "git_diff", "baseline": "base"} and probe.name == "judge 0"
    assert judge.judge and judge.tool_names == ("Read", "Glob", "Grep") and not judge.conversation
    payload = json.loads(judge.prompt.split("\n\n", 2)[2])
    assert payload["changed_targets"] == ["x"]
    assert payload["repository_evidence"] == {"status": "collected", "diff": "+x"}
    assert payload["reviewer_instruction"] == "PROMPT" and payload["reviewer_report"] == "first"
    _, calls = run_episode(fixer(), answers_for([decision(True)]), baseline=None)
    assert [c.kind for c in calls] == [JUDGE]  # no git, no look
    omitted = json.loads(judge_prompt("t", "p", "r", None).split("\n\n", 2)[2])
    assert omitted["repository_evidence"]["status"] == "omitted"
    assert judge_prompt("t", "p", "r", Changes(False)) == judge_prompt("t", "p", "r", None)


@pytest.mark.parametrize(
    "data",
    [
        {"complete": True, "reason": "x", "missing_obligations": [{"kind": "changed_target_gap"}]},
        {"complete": False, "reason": "x", "missing_obligations": []},
        {"complete": True, "reason": " ", "missing_obligations": []},
        {"complete": "yes", "reason": "x", "missing_obligations": []},
        {
            "complete": False,
            "reason": "x",
            "missing_obligations": [
                {"kind": "other", "contract_family": "a", "path": "b", "reason": "c"}
            ],
        },
    ],
)
def test_decisions_outside_the_contract_are_refused(data) -> None:
    with pytest.raises(DecisionInvalid):
        parse_decision(Answer(JUDGE, json.dumps(data)))


# -- companions ------------------------------------------------------------------------


def companion(name: str) -> Companion:
    return Companion(name=name, description=f"{name} reviews", persona=f"I am {name}.")


def watched(fixed=("w",), pool=(), moderator: str | None = None) -> Movement:
    spec = CompanionSpec(
        fixed=[companion(n) for n in fixed],
        pool=[companion(n) for n in pool],
        moderator=companion(moderator) if moderator else None,
    )
    return Movement(name="write", instruction="Write.", companion=spec)


def test_at_most_three_reviewers_and_a_failed_selector_means_none() -> None:
    assert choose(watched(fixed=("a", "b", "c", "d")), [], task="t") == ()
    assert [c.name for c in choose(watched(fixed=("a",)), [], task="t")] == ["a"]
    movement = watched(fixed=("a",), pool=("a", "p", "q"))
    call = choose(movement, [], task="t")
    assert call.kind == SELECT and call.tolerant
    assert call.schema["properties"]["selected_ids"]["items"]["enum"] == ["p", "q"]
    assert call.schema["properties"]["selected_ids"]["maxItems"] == 2
    assert json.loads(call.prompt)["maxSelected"] == 2
    chosen = choose(
        movement, [Answer(SELECT, '{"selected_ids": ["q"], "rationale": ""}')], task="t"
    )
    assert [c.name for c in chosen] == ["a", "q"]
    assert choose(movement, [Answer(SELECT, status="error", error="down")], task="t") == ()


Script = dict[str, str]


def review_replies(findings: dict[str, list], digests: dict[str, str], follow: Script) -> Reply:
    def reply(call: Call) -> Answer:
        if call.kind == DIFF:
            digest = digests.get(call.name, "")
            data = {"available": True, "paths": ["d.md"], "digest": digest}
            return said(call, f"diff {digest}" if digest else "", structured=data)
        if call.kind == REVIEW:
            items = findings.get(call.name, [])
            body = [{"severity": "nit", "file": "d.md", "line": 1, "finding": f} for f in items]
            return said(call, json.dumps({"findings": body, "notes": None}))
        if call.kind == MODERATE:
            return said(call, json.dumps({"findings": [{"action": "accept", "sourceIndex": 0}]}))
        return said(call, follow.get(call.name, f"fixed {call.name}"))

    return reply


def run_rounds(movement, reply, *, reviewed="", max_rounds=3, active=None):
    spec = movement.companion
    active = active if active is not None else spec.fixed

    def step(answers):
        return rounds(
            movement,
            answers,
            active,
            episode=0,
            response="first",
            baseline="base",
            reviewed=reviewed,
            task="t",
            max_rounds=max_rounds,
        )

    return drive(step, reply)


def test_findings_go_back_in_a_follow_up_until_a_review_finds_nothing() -> None:
    reply = review_replies({"0.1:w": ["tighten"]}, {"review 0.1": "d1", "review 0.2": "d2"}, {})
    (content, digest), calls = run_rounds(watched(), reply)
    assert [c.kind for c in calls] == [DIFF, REVIEW, FOLLOW_UP, DIFF, REVIEW]
    follow_up = calls[2]
    assert follow_up.conversation and follow_up.tools and not follow_up.fresh
    assert '"finding": "tighten"' in follow_up.prompt and '"companion": "w"' in follow_up.prompt
    review = calls[1]
    assert review.tool_names == ("Read", "Glob", "Grep") and not review.conversation
    assert review.system.startswith("I am w.") and "evidence boundary" in review.system
    assert "diff d1" in review.prompt and '"implementer_explanation", "value": "first"' in (
        review.prompt
    )
    assert (content, digest) == ("fixed 0.1", "d2")


def test_nothing_new_to_review_ends_the_rounds_without_a_call() -> None:
    out, calls = run_rounds(watched(), review_replies({}, {}, {}))  # no change at all
    assert out == ("first", "") and [c.kind for c in calls] == [DIFF]
    same = review_replies({"0.1:w": ["x"]}, {"review 0.1": "seen"}, {})
    (content, digest), calls = run_rounds(watched(), same, reviewed="seen")
    assert [c.kind for c in calls] == [DIFF] and (content, digest) == ("first", "seen")


def test_the_moderator_decides_and_the_rounds_are_bounded() -> None:
    always = {f"0.{r}:w": ["again"] for r in range(1, 5)}
    digests = {f"review 0.{r}": f"d{r}" for r in range(1, 5)}
    (content, _), calls = run_rounds(
        watched(moderator="m"), review_replies(always, digests, {}), max_rounds=2
    )
    assert [c.kind for c in calls].count(FOLLOW_UP) == 2
    assert [c.kind for c in calls].count(MODERATE) == 2
    moderation = next(c for c in calls if c.kind == MODERATE)
    assert moderation.system.startswith("I am m.") and '"reviewer_result"' in moderation.prompt
    assert content == "fixed 0.2"


def test_a_failed_follow_up_keeps_the_previous_answer() -> None:
    reply = review_replies({"0.1:w": ["x"]}, {"review 0.1": "d1"}, {"0.1": "   "})
    (content, digest), calls = run_rounds(watched(), reply)
    assert content == "first" and digest == "d1" and calls[-1].kind == FOLLOW_UP


def test_review_and_moderation_answers_outside_the_contract_count_as_nothing() -> None:
    assert (
        parse_findings(Answer(REVIEW, '{"findings": [{"severity": "huge"}], "notes": null}')) == []
    )
    assert parse_findings(Answer(REVIEW, "looks fine")) == []
    found = [{"finding": "a"}, {"finding": "b"}]
    both = Answer(
        MODERATE,
        json.dumps(
            {
                "findings": [
                    {"action": "accept", "sourceIndex": 1},
                    {"action": "reject", "sourceIndex": 0},
                ]
            }
        ),
    )
    assert moderated(found, both) == [{"finding": "b"}]
    partial = Answer(MODERATE, json.dumps({"findings": [{"action": "accept", "sourceIndex": 0}]}))
    assert moderated(found, partial) == []  # every finding must be decided
