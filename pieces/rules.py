"""Choosing a movement's rule: status tags, the judge prompt and reply, all()/any() joins."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from pieces.conditions import same_outcome
from pieces.model import Movement, Rule

# "[STEP:2]". A tag followed by "=" is the agent echoing the status list, not choosing.
_TAG = re.compile(r"\[\s*STEP\s*:\s*(\d{1,6})\s*\](?!\s*=)", re.IGNORECASE)
JUDGE_OUTPUT_HEAD = 2_000
JUDGE_OUTPUT_TAIL = 10_000


class RuleMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    next: str | None
    condition: str
    appendix: str | None = None
    requires_user_input: bool = False
    method: str = "tag"  # "tag" | "judge" | "aggregate"

    @classmethod
    def of(cls, rule: Rule, method: str) -> RuleMatch:
        return cls(
            index=rule.index,
            next=rule.next,
            condition=rule.condition,
            appendix=rule.appendix,
            requires_user_input=rule.requires_user_input,
            method=method,
        )


def last_tag(output: str | None) -> int | None:
    """The index in the last ``[STEP:N]`` tag of the output, if any."""
    if not output:
        return None
    found = _TAG.findall(output)
    return int(found[-1]) if found else None


def strip_tags(output: str) -> str:
    """The output without status tags (for reports and summaries)."""
    return _TAG.sub("", output).rstrip()


def _judgeable(movement: Movement) -> list[Rule]:
    # all()/any() are decided by the sub-movements' outcomes, never by text.
    return [r for r in movement.rules if r.kind in ("text", "ai")]


def _rule_at(movement: Movement, index: int | None) -> Rule | None:
    if index is None or not 0 <= index < len(movement.rules):
        return None
    return movement.rules[index]


def match_by_tag(movement: Movement, output: str | None) -> RuleMatch | None:
    """The rule the agent's last status tag picks, unless that rule must be judged."""
    rule = _rule_at(movement, last_tag(output))
    if rule is None or rule.kind != "text":
        return None
    return RuleMatch.of(rule, "tag")


def needs_judge(movement: Movement, output: str | None) -> bool:
    """True when a judge call must decide: no usable tag, or an ai() condition is involved."""
    candidates = _judgeable(movement)
    if not candidates:
        return False
    rule = _rule_at(movement, last_tag(output))
    return rule is None or rule.kind != "text"


def _clip(output: str) -> str:
    if len(output) <= JUDGE_OUTPUT_HEAD + JUDGE_OUTPUT_TAIL:
        return output
    omitted = len(output) - JUDGE_OUTPUT_HEAD - JUDGE_OUTPUT_TAIL
    return (
        output[:JUDGE_OUTPUT_HEAD]
        + f"\n\n[... {omitted} characters omitted ...]\n\n"
        + output[-JUDGE_OUTPUT_TAIL:]
    )


def judge_prompt(movement: Movement, output: str | None) -> str:
    """A self-contained prompt asking a judge model which condition the output meets."""
    options = "\n".join(f"[STEP:{r.index}] = {r.condition}" for r in _judgeable(movement))
    body = _clip(output or "").strip() or "(the agent produced no output)"
    return (
        "You are a strict, impartial judge in an automated workflow. An agent has just "
        f'finished the step "{movement.name}". Decide which one of the conditions below '
        "best describes the outcome of its work, judging by what the output shows was "
        "actually done, not by what it promises.\n\n"
        f"## Conditions\n{options}\n\n"
        f"## Agent output\n<output>\n{body}\n</output>\n\n"
        "## Answer\nReply with exactly one tag from the list, such as [STEP:0], on a line "
        "of its own, and nothing else. If no condition fits at all, reply [STEP:NONE]."
    )


def parse_judge_reply(movement: Movement, reply: str | None) -> RuleMatch | None:
    """The judged rule: the reply's last tag, or else a condition quoted verbatim."""
    candidates = _judgeable(movement)
    rule = _rule_at(movement, last_tag(reply))
    if rule is not None and rule in candidates:
        return RuleMatch.of(rule, "judge")
    text = (reply or "").strip().strip("\"'`.").strip()
    for rule in candidates:
        if same_outcome(text, rule.condition):
            return RuleMatch.of(rule, "judge")
    return None


def _aggregate_holds(rule: Rule, subs: list[str], sub_results: dict[str, str]) -> bool:
    if rule.kind not in ("all", "any") or not subs:
        return False
    if len(rule.args) == 1:
        pairs = [(name, rule.args[0]) for name in subs]
    elif len(rule.args) == len(subs):
        pairs = list(zip(subs, rule.args, strict=True))
    else:
        return False
    hits = [same_outcome(sub_results.get(name), want) for name, want in pairs]
    return all(hits) if rule.kind == "all" else any(hits)


def evaluate_aggregate(movement: Movement, sub_results: dict[str, str]) -> RuleMatch | None:
    """The first all()/any() rule of a parallel movement that the outcomes satisfy.

    ``sub_results`` maps a sub-movement name to the condition its own rules matched; a
    sub-movement that is missing (failed, unmatched) satisfies no argument.
    """
    subs = [sub.name for sub in movement.parallel]
    for rule in movement.rules:
        if _aggregate_holds(rule, subs, sub_results):
            return RuleMatch.of(rule, "aggregate")
    return None


def unmatched_summary(movement: Movement, output: str | None, limit: int = 400) -> str:
    """Why the job stops when no rule matched: the rules offered and how the output ended."""
    text = " ".join((output or "").split())
    tail = text if len(text) <= limit else "..." + text[-limit:]
    offered = "; ".join(f"[STEP:{r.index}] {r.condition}" for r in movement.rules)
    shown = f'"{tail}"' if tail else "no output"
    return f'no rule of "{movement.name}" matched ({offered}); the output ended with {shown}'
