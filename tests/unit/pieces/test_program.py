"""The movement program: the order of phases and the judgment cascade (SEMANTICS.md §1)."""

from __future__ import annotations

import json

from pieces import Answer, Call, MovementSpec, Outcome, OutputContract, next_step
from pieces.judgment import EVALUATION_SCHEMA, JUDGMENT_SCHEMA

from .helpers import movement, piece


def spec(mv, **kw) -> MovementSpec:
    return MovementSpec(piece=piece(mv), movement=mv, phase1_prompt="DO IT", **kw)


def run(sp: MovementSpec, replies: dict[str, list[str]]) -> tuple[Outcome, list[Call]]:
    """Drive the program, answering each kind from `replies` in turn."""
    answers: list[Answer] = []
    calls: list[Call] = []
    step = next_step(sp, answers)
    while isinstance(step, Call):
        calls.append(step)
        queue = replies.get(step.kind, [])
        answers.append(
            Answer(kind=step.kind, name=step.name, content=queue.pop(0) if queue else "")
        )
        step = next_step(sp, answers)
    return step, calls


def test_phase1_offers_tools_and_has_no_status_rules() -> None:
    mv = movement("ok", "ng")
    first = next_step(spec(mv), [])
    assert isinstance(first, Call)
    assert (first.kind, first.phase, first.tools, first.conversation) == ("execute", 1, True, True)
    assert first.prompt == "DO IT"


def test_one_rule_is_auto_selected_without_a_call() -> None:
    outcome, calls = run(spec(movement("only")), {"execute": ["done"]})
    assert [c.kind for c in calls] == ["execute"]
    assert (outcome.rule_index, outcome.method) == (0, "auto_select")
    assert outcome.content == "done"


def test_structured_output_decides_first() -> None:
    outcome, calls = run(
        spec(movement("ok", "ng")),
        {"execute": ["work"], "judge_structured": [json.dumps({"step": 2, "reason": "r"})]},
    )
    assert [c.kind for c in calls] == ["execute", "judge_structured"]
    judge = calls[1]
    assert (judge.phase, judge.system, judge.schema, judge.judge) == (
        3,
        "conductor",
        JUDGMENT_SCHEMA,
        True,
    )
    assert not judge.conversation  # Phase 3 runs in a fresh conversation
    assert (outcome.rule_index, outcome.method) == (1, "structured_output")
    assert outcome.content == "work"  # the result is the Phase 1 answer, never a tag


def test_cascade_tag_then_ai_judge_then_piece_fallbacks() -> None:
    mv = movement("ok", "ng", name="review")
    _, calls = run(
        spec(mv), {"execute": ["w"], "judge_structured": ["not json"], "judge_tag": ["[REVIEW:2]"]}
    )
    assert [c.kind for c in calls][-1] == "judge_tag"
    outcome, calls = run(
        spec(mv),
        {
            "execute": ["w"],
            "judge_structured": ["?"],
            "judge_tag": ["?"],
            "judge_ai": ["[JUDGE:2]"],
        },
    )
    assert [c.kind for c in calls] == ["execute", "judge_structured", "judge_tag", "judge_ai"]
    assert calls[-1].schema == EVALUATION_SCHEMA
    # TAKT hands the AI judge the structured Phase 3 prompt as the agent's output.
    assert calls[1].prompt in calls[-1].prompt
    assert (outcome.rule_index, outcome.method) == (1, "ai_judge")


def test_phase1_tag_is_the_0_31_fallback() -> None:
    outcome, calls = run(
        spec(movement("ok", "ng", name="review")), {"execute": ["all done [REVIEW:2]"]}
    )
    assert [c.kind for c in calls] == ["execute", "judge_structured", "judge_tag", "judge_ai"]
    assert (outcome.rule_index, outcome.method) == (1, "phase1_tag")


def test_exhausted_cascade_aborts_with_takts_reason() -> None:
    outcome, calls = run(spec(movement("ok", "ng", name="review")), {"execute": ["w"]})
    assert [c.kind for c in calls][-1] == "fallback_all"
    assert outcome.status == "error"
    assert outcome.failure == (
        'Movement execution failed: Status not found for movement "review": '
        "no rule matched after all detection phases"
    )


def test_use_judge_reports_are_what_phase3_reads() -> None:
    mv = movement(
        "ok",
        "ng",
        output_contracts=[
            OutputContract(name="a.md", use_judge=False),
            OutputContract(name="b.md"),
        ],
    )
    outcome, calls = run(
        spec(mv),
        {
            "execute": ["phase one"],
            "report": ["REPORT A", "REPORT B"],
            "judge_structured": ['{"step": 1, "reason": "r"}'],
        },
    )
    assert [c.kind for c in calls] == ["execute", "report", "report", "judge_structured"]
    assert [c.name for c in calls[1:3]] == ["a.md", "b.md"]
    assert all(c.conversation and not c.tools for c in calls[1:3])
    assert "# b.md\n\nREPORT B" in calls[3].prompt
    assert "REPORT A" not in calls[3].prompt and "phase one" not in calls[3].prompt
    assert outcome.reports == {"a.md": "REPORT A", "b.md": "REPORT B"}


def test_empty_report_is_retried_in_a_fresh_conversation_then_fails() -> None:
    mv = movement("ok", output_contracts=[OutputContract(name="r.md")])
    outcome, calls = run(
        spec(mv), {"execute": ["the work"], "report": [""], "report_retry": ["  "]}
    )
    retry = calls[-1]
    assert retry.kind == "report_retry" and not retry.conversation
    assert "## Previous Work Context" in retry.prompt and "the work" in retry.prompt
    assert outcome.failure == (
        "Movement execution failed: Report phase failed for r.md: Report output is empty"
    )


def test_ai_only_rules_skip_phase3() -> None:
    mv = movement('ai("fixed")', 'ai("not fixed")', name="fix")
    outcome, calls = run(spec(mv), {"execute": ["w"], "fallback_ai": ["[JUDGE:2]"]})
    assert [c.kind for c in calls] == ["execute", "fallback_ai"]
    assert "| 1 | fixed |" in calls[-1].prompt and "| 2 | not fixed |" in calls[-1].prompt
    assert (outcome.rule_index, outcome.method) == (1, "ai_judge")


def test_hidden_interactive_rules_cannot_be_chosen() -> None:
    mv = movement("ok", "ask the user")
    mv = mv.model_copy(
        update={"rules": [mv.rules[0], mv.rules[1].model_copy(update={"interactive_only": True})]}
    )
    _, calls = run(spec(mv), {"execute": ["w"], "judge_structured": ['{"step": 2, "reason": "r"}']})
    assert "ask the user" not in calls[1].prompt
    outcome, _ = run(
        spec(mv, interactive=True),
        {"execute": ["w"], "judge_structured": ['{"step": 2, "reason": "r"}']},
    )
    assert outcome.rule_index == 1


def test_a_blocked_phase1_skips_reports_and_judgment() -> None:
    mv = movement("ok", "ng", output_contracts=[OutputContract(name="r.md")])
    sp = spec(mv)
    blocked = Answer(
        kind="execute",
        content="a question",
        status="blocked",
        structured={"pause": "human", "questions": ["why?"]},
    )
    outcome = next_step(sp, [blocked])
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.pause, outcome.questions) == ("blocked", "human", ("why?",))


def test_recorded_answers_resume_after_the_last_phase() -> None:
    mv = movement("ok", "ng", output_contracts=[OutputContract(name="r.md")])
    done = [Answer(kind="execute", content="w"), Answer(kind="report", name="r.md", content="R")]
    step = next_step(spec(mv), done)
    assert isinstance(step, Call) and step.kind == "judge_structured"
