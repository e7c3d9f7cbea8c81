"""Selector calls: an internal agent picks ids from a list of candidates.

Dynamic parallel steps (pool members), ``dynamic_facets`` (facet candidates) and
companion pools all ask the same way (TAKT v0.60): a fresh, read-only call with
structured output ``{selected_ids, rationale}``, the ids restricted to the candidates
and unique. An answer that breaks the contract is an error the caller reports in its
own words; nothing is guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pieces.exchange import READ_ONLY_TOOLS, Answer, Call

_JSON_BLOCK = re.compile(r"```json\s*([\s\S]*?)```")


class SelectionInvalid(ValueError):
    """A selector answer that breaks the contract (the message says how)."""


def selector_opening(what: str, guidance: str | None, task: str) -> list[str]:
    """The lines every selector prompt starts with: what to pick, the guidance, the task."""
    out = [f"Select {what}.", "Answer only with the requested structured output."]
    if guidance:
        out += ["", f"Selector guidance:\n{guidance}"]
    return [*out, "", f"Task:\n{task}"]


def json_answer(answer: Answer) -> Any:
    """The structured value of an answer: its parsed output, else its text as JSON (the
    whole text, or its last ```json block); None when there is none."""
    if answer.structured is not None:
        return answer.structured
    text = answer.content.strip()
    blocks = _JSON_BLOCK.findall(text)
    for candidate in (text, blocks[-1] if blocks else None):
        if candidate is None:
            continue
        try:
            return json.loads(candidate.strip())
        except ValueError:
            continue
    return None


def selector_schema(ids: Sequence[str], max_selected: int | None = None) -> dict[str, Any]:
    selected: dict[str, Any] = {
        "type": "array",
        "uniqueItems": True,
        "items": {"type": "string", "enum": list(ids)},
    }
    if max_selected is not None:
        selected["maxItems"] = max_selected
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"selected_ids": selected, "rationale": {"type": "string"}},
        "required": ["selected_ids", "rationale"],
    }


def selector_call(
    kind: str,
    prompt: str,
    system: str,
    ids: Sequence[str],
    *,
    persona: str | None = None,
    max_selected: int | None = None,
    tolerant: bool = False,
) -> Call:
    """A fresh call on the judge tier with the read-only tools; the persona, when given,
    comes before the selector's own system prompt."""
    return Call(
        kind,
        0,
        prompt,
        system=f"{persona}\n\n{system}" if persona else system,
        schema=selector_schema(ids, max_selected),
        tools=True,
        tool_names=READ_ONLY_TOOLS,
        judge=True,
        tolerant=tolerant,
    )


def parse_selection(
    answer: Answer, ids: Sequence[str], max_selected: int | None = None
) -> tuple[list[str], str]:
    """(selected ids in the order given, rationale); raises SelectionInvalid."""
    if answer.status != "done":
        raise SelectionInvalid(answer.error or f"the selector answered {answer.status}")
    data = json_answer(answer)
    if not isinstance(data, dict):
        raise SelectionInvalid("the selector returned no structured selection")
    chosen, rationale = data.get("selected_ids"), data.get("rationale")
    if not isinstance(chosen, list) or not all(isinstance(i, str) for i in chosen):
        raise SelectionInvalid("selected_ids must be a list of candidate ids")
    if not isinstance(rationale, str):
        raise SelectionInvalid("rationale must be text")
    if len(set(chosen)) != len(chosen):
        raise SelectionInvalid("selected_ids must not repeat an id")
    unknown = [i for i in chosen if i not in ids]
    if unknown:
        raise SelectionInvalid(f'unknown candidate id "{unknown[0]}"')
    if max_selected is not None and len(chosen) > max_selected:
        raise SelectionInvalid(f"selected {len(chosen)} candidates, more than {max_selected}")
    return chosen, rationale


def listing(values: Sequence[str]) -> str:
    return "\n".join(f"- {v}" for v in values) if values else "(none)"
