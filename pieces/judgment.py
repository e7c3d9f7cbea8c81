"""Phase 3, the status judgment: what is judged, the prompts, the answers' parsing.

A separate, fresh conversation (TAKT's "conductor") reads the ``use_judge`` reports (or
the Phase 1 answer) and picks a rule in up to three stages: structured output
(``{"step": N}``), a status tag (``[MOVEMENT:N]``), then an AI judge (``[JUDGE:N]`` or
``{"matched_index": N}``). The order of the stages and the fallbacks after them live in
``pieces.program``; this module only builds texts and reads answers.

What a number means differs by dialect: in a ``piece`` it is the rule's position (+1),
in a ``workflow`` the position of a distinct semantic label (SEMANTICS.md §2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pieces.model import Movement, Piece, Rule
from pieces.tags import status_tag

JUDGMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "step": {"type": "integer", "description": "Number of the matched rule (1-based)"},
        "reason": {"type": "string", "description": "Short reason for the choice"},
    },
    "required": ["step", "reason"],
    "additionalProperties": False,
}
EVALUATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "matched_index": {"type": "integer", "description": "Number of the condition (1-based)"},
        "reason": {"type": "string", "description": "Why this condition matches"},
    },
    "required": ["matched_index", "reason"],
    "additionalProperties": False,
}
CONDUCTOR = "conductor"  # TAKT's Phase 3 persona string, used verbatim as system prompt


@dataclass(frozen=True)
class Candidate:
    number: int  # 1-based, as shown in the table and the tag
    text: str  # the condition shown
    appendix: str | None = None
    rule_index: int | None = None  # piece dialect: the rule it selects
    label: str | None = None  # workflow dialect: the label it selects


def _visible(rule: Rule, interactive: bool) -> bool:
    return interactive or not rule.interactive_only


def candidates(piece: Piece, movement: Movement, interactive: bool) -> list[Candidate]:
    """What Phase 3 may answer, numbered as the prompt shows them."""
    if piece.dialect == "piece":
        # Numbering is by rule position and is not compacted when rules are hidden.
        return [
            Candidate(r.index + 1, r.condition, r.appendix, rule_index=r.index)
            for r in movement.rules
            if _visible(r, interactive)
        ]
    seen: dict[str, Candidate] = {}
    for rule in movement.rules:
        if rule.kind not in ("label", "label_when") or not _visible(rule, interactive):
            continue
        label = rule.label or rule.condition
        if label not in seen:
            seen[label] = Candidate(len(seen) + 1, label, rule.appendix, label=label)
    return list(seen.values())


def rule_is_selectable(movement: Movement, index: int, interactive: bool) -> bool:
    """Piece dialect: a 0-based rule number a judge may pick."""
    return 0 <= index < len(movement.rules) and _visible(movement.rules[index], interactive)


def judged_content(
    movement: Movement, reports: dict[str, str], phase1_answer: str | None
) -> tuple[str | None, str]:
    """(content, source): the use_judge reports, else the Phase 1 answer.

    Content is None when reports were declared for judging but none exists (0.31 then
    skips Phase 3 and falls back; the workflow dialect judges the Phase 1 answer).
    """
    wanted = [c.name for c in movement.output_contracts if c.use_judge]
    if wanted:
        found = [f"# {name}\n\n{reports[name]}" for name in wanted if name in reports]
        if found:
            return "\n\n---\n\n".join(found), "report"
        return None, "report"
    if not phase1_answer:
        return None, "response"
    return f"\n## Agent Response\n\n{phase1_answer}", "response"


def criteria_table(movement: Movement, cands: list[Candidate]) -> str:
    rows = [f"| {c.number} | {c.text} | `{status_tag(movement.name, c.number)}` |" for c in cands]
    return "\n".join(["| # | Condition | Tag |", "|---|------|------|", *rows])


def phase3_prompt(
    movement: Movement, cands: list[Candidate], content: str, *, structured: bool
) -> str:
    if structured:
        head = (
            "**The work is finished. Read the result below and decide which numbered rule "
            "(counting from 1) it matches.**"
        )
    else:
        head = (
            "**The work is finished. Answer with exactly one tag: the one for the outcome "
            "the result below shows.**"
        )
    out = [head, "", content, "", "## Decision Criteria", "", criteria_table(movement, cands), ""]
    if structured:
        out += [
            "",
            "## Task",
            "",
            "Compare the result with the criteria above. Give the number of the matching rule "
            "(an integer from 1) and a short reason.",
        ]
    else:
        out += [
            "",
            "## Output Format",
            "",
            "**Reply with one line: the tag for the outcome the result shows.**",
            "",
            "Tags to choose from:",
            "",
            *[f"- `{status_tag(movement.name, c.number)}` — {c.text}" for c in cands],
        ]
        with_appendix = [c for c in cands if c.appendix]
        if with_appendix:
            out += ["", "### Appendix Template"]
            for c in with_appendix:
                out += [
                    "",
                    f"When you answer `{status_tag(movement.name, c.number)}`, add this after it:",
                    "```",
                    (c.appendix or "").rstrip(),
                    "```",
                ]
    return "\n".join(out) + "\n"


def judge_prompt(agent_output: str, conditions: list[tuple[int, str]]) -> str:
    """The AI judge: which of ``conditions`` (numbered from 1) does the output meet?"""
    rows = "\n".join(f"| {number} | {text} |" for number, text in conditions)
    return (
        "# Judgment\n\n"
        "Decide which condition the agent output below meets. Read the output, then pick "
        "the one condition that fits it best.\n\n"
        f"## Agent Output\n```\n{agent_output}\n```\n\n"
        f"## Conditions\n| # | Condition |\n|---|-----------|\n{rows}\n\n"
        "## Answer\nReply with only the tag `[JUDGE:N]`, N being the number of the "
        "condition that fits best. Nothing else.\n"
    )


def structured_value(answer: str | None, structured: Any, key: str) -> int | None:
    """An integer field of a structured answer (or of JSON text), else None."""
    data = structured
    if data is None and answer:
        text = answer.strip()
        if text.startswith("```"):
            text = text.strip("`")
            text = text[text.find("\n") + 1 :] if "\n" in text else text
        try:
            data = json.loads(text)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
