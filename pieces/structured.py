"""``structured_output`` on a workflow step: Phase 1 answers with JSON the schema admits.

TAKT v0.60 asks Phase 1 for the step's schema (``structured_output.schema_ref`` names a
file of the workflow's ``schemas`` map), validates the answer against it, normalizes it
and keeps it as ``structured.<step>`` for ``when(…)`` and placeholders
(StepExecutor.ts:1037-1081, 1369-1371). An answer that is not valid JSON for the schema
fails the step (``Step "x" requires structured_output …``, StepExecutor.ts:1627-1633).

The one normalizer TAKT ships is for its ``followup-task`` schema
(infra/workflow/structured-output/followup-task-normalizer.ts): it renders the summary,
goals and acceptance criteria as ``task_markdown`` and folds title and labels into
``issue``, after checking the item counts each action needs. legato does the same for a
schema referenced as ``followup-task``; it does not build TAKT's fallbacks from a
free-text answer.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from pieces.model import Movement

FOLLOWUP_TASK = "followup-task"
FRESH_IMPROVEMENT = "plan_fresh_improvement"


def schema_of(movement: Movement) -> dict[str, Any] | None:
    return movement.structured_output


def _parsed(content: str, structured: Any) -> Any:
    if structured is not None:
        return structured
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[4:] if text.lower().startswith("json") else text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError("Structured output response is missing") from exc


def _validate(value: Any, schema: dict[str, Any]) -> None:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(
            f"structured output does not match its schema at {where}: {exc.message}"
        ) from exc
    except jsonschema.SchemaError as exc:
        raise ValueError(f"the structured_output schema is invalid: {exc.message}") from exc


def structured_result(movement: Movement, content: str, structured: Any) -> tuple[Any, str | None]:
    """The step's structured value, or (None, why the step fails)."""
    schema = schema_of(movement)
    if schema is None:
        return None, None
    try:
        value = _parsed(content, structured)
        _validate(value, schema)
        if movement.structured_output_ref == FOLLOWUP_TASK and isinstance(value, dict):
            value = followup_task(movement.name, value)
    except ValueError as exc:
        return None, f'Step "{movement.name}" requires structured_output: {exc}'
    return value, None


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or any(not isinstance(i, str) for i in value):
        raise ValueError(f'followup-task structured output requires string array field "{field}"')
    return value


def followup_task(step: str, value: dict[str, Any]) -> dict[str, Any]:
    """TAKT's followup-task normalization (a value lacking its metadata stays as it is)."""
    issue = value.get("issue")
    metadata = (
        isinstance(value.get("title"), str)
        and isinstance(value.get("summary"), str)
        and isinstance(value.get("goals"), list)
        and isinstance(value.get("acceptance_criteria"), list)
        and isinstance(value.get("labels"), list)
        and isinstance(issue, dict)
    )
    if not metadata:
        return value
    if not isinstance(issue.get("create"), bool):
        raise ValueError('followup-task structured output requires boolean field "issue.create"')
    goals = _strings(value.get("goals"), "goals")
    criteria = _strings(value.get("acceptance_criteria"), "acceptance_criteria")
    labels = _strings(value.get("labels"), "labels")
    if value.get("action") == "enqueue_new_task":
        if len(goals) < 1:
            raise ValueError("followup-task enqueue_new_task requires at least one goal")
        if len(criteria) < 2:
            raise ValueError(
                "followup-task enqueue_new_task requires at least two acceptance criteria"
            )
        if step == FRESH_IMPROVEMENT and issue["create"] is not True:
            raise ValueError(
                "plan_fresh_improvement enqueue_new_task requires issue.create to be true"
            )
    elif goals or criteria:
        raise ValueError(
            "followup-task wait_before_next_scan requires empty goals and acceptance criteria"
        )
    markdown = "\n".join(
        [
            "## Summary",
            str(value.get("summary")),
            "",
            "## Goals",
            *(f"- {g}" for g in goals),
            "",
            "## Acceptance Criteria",
            *(f"- [ ] {c}" for c in criteria),
        ]
    )
    return {
        **value,
        "task_markdown": markdown,
        "issue": {"create": issue["create"], "title": value.get("title"), "labels": labels},
    }
