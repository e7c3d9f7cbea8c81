"""``completion_retry`` (alias ``review_completion``): is the step's work complete?

After Phase 1 (and its companion rounds) a read-only judge compares the step's
instruction with the evidence (the files the step changed, readable with its tools)
and the answer, and says ``{complete, reason, missing_obligations}``. TAKT v0.60's
episode (``completion-retry.ts``), step for step:

* judge 0 looks at the first answer; while the work is incomplete, or fewer than
  ``min_retry`` re-runs happened, and fewer than ``max_retry`` did, Phase 1 runs again
  **in the same conversation** with the original prompt, the ``retry_instruction`` and
  the missing items, and the judge looks again;
* a re-run that fails keeps the previous answer and is not judged (the next re-run
  comes, or the episode ends with ``reviewer_retry_failed`` after the last);
* a judge that fails, or answers outside the contract, ends the episode at once
  (``judge_unavailable``), ``min_retry`` or not;
* still incomplete after ``max_retry`` re-runs: ``max_retry_reached``.

The step never fails for this. The final answer goes on to Phase 2 and 3; the
diagnostic, when there is one, is shown to Phase 2 only. No re-run uses a step
iteration. Each call is a checkpointed phase of the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pieces.exchange import READ_ONLY_TOOLS, Answer, Call, find, usable
from pieces.model import Movement
from pieces.probes import DIFF, Changes, changes_of, diff_call
from pieces.selection import json_answer

JUDGE, RETRY = "completion_judge", "completion_retry"
GAP_KINDS = (
    "changed_target_gap",
    "family_lifecycle_gap",
    "accepted_family_unvisited_consumer",
    "remediation_regression",
    "direct_acceptance_criterion_violation",
    "required_consumer_migration",
)
EVIDENCE_DIFF_CHARS = 64 * 1024
SYSTEM = (
    "You judge, read-only, whether a step's work is complete. The reviewer instruction is "
    "the only source of scope and authority: decide only whether what it requires is "
    "closed by the evidence in the working directory and by the report."
)
RULES = (
    "Compare only the explicit requirements in reviewer_instruction with the evidence "
    "(changed_targets and repository_evidence below, and the files themselves, which you "
    "may read with your tools) and with reviewer_report. Within what the instruction "
    "requires, check the real connections: definitions, producers, validators, consumers, "
    "retries and fallbacks, persistence, and the public interface. Do not report "
    "exploration the instruction does not ask for. Do not invent evidence or requirements."
)
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["complete", "reason", "missing_obligations"],
    "properties": {
        "complete": {"type": "boolean"},
        "reason": {"type": "string", "minLength": 1},
        "missing_obligations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "contract_family", "path", "reason"],
                "properties": {
                    "kind": {"type": "string", "enum": list(GAP_KINDS)},
                    "contract_family": {"type": "string", "minLength": 1},
                    "path": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


class DecisionInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Gap:
    kind: str
    family: str
    path: str
    reason: str

    def line(self) -> str:
        return f"- [{self.kind}] {self.family}: {self.path} — {self.reason}"


@dataclass(frozen=True)
class Decision:
    complete: bool
    reason: str
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True)
class Diagnostic:
    kind: str  # max_retry_reached | judge_unavailable | reviewer_retry_failed
    attempts: int
    retries_used: int
    reason: str
    gaps: tuple[Gap, ...] = field(default_factory=tuple)

    def text(self) -> str:
        return "\n".join(
            [
                "## Incomplete completion diagnostic (Phase 2 only)",
                f"- kind: {self.kind}",
                f"- attempts: {self.attempts}",
                f"- retries_used: {self.retries_used}",
                f"- reason: {self.reason}",
                *(g.line() for g in self.gaps),
            ]
        )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DecisionInvalid(f"the completion judge returned an invalid {what}")
    return value.strip()


def parse_decision(answer: Answer) -> Decision:
    if answer.status != "done":
        raise DecisionInvalid(answer.error or f"the completion judge answered {answer.status}")
    data = json_answer(answer)
    if not isinstance(data, dict):
        raise DecisionInvalid("the completion judge returned no structured decision")
    complete, raw = data.get("complete"), data.get("missing_obligations")
    if not isinstance(complete, bool) or not isinstance(raw, list):
        raise DecisionInvalid("the completion judge returned an invalid structured decision")
    gaps = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or entry.get("kind") not in GAP_KINDS:
            raise DecisionInvalid(f"the completion judge returned an invalid gap {i}")
        gaps.append(
            Gap(
                entry["kind"],
                _text(entry.get("contract_family"), f"gap {i} contract_family"),
                _text(entry.get("path"), f"gap {i} path"),
                _text(entry.get("reason"), f"gap {i} reason"),
            )
        )
    if complete == bool(gaps):
        raise DecisionInvalid("the completion judge's decision and missing obligations disagree")
    return Decision(complete, _text(data.get("reason"), "reason"), tuple(gaps))


def retry_prompt(original: str, instruction: str, gaps: Sequence[Gap]) -> str:
    lines = [original, "", instruction]
    if gaps:
        lines += ["", *(g.line() for g in gaps)]
    return "\n".join(lines)


def judge_prompt(task: str, instruction: str, report: str, changes: Changes | None) -> str:
    if changes is None or not changes.available:
        targets: object = None
        evidence: object = {
            "status": "omitted",
            "reason": "the working directory is not a git repository",
        }
    else:
        targets = list(changes.paths)
        diff = changes.diff[:EVIDENCE_DIFF_CHARS]
        evidence = {"status": "collected", "diff": diff}
        if len(changes.diff) > EVIDENCE_DIFF_CHARS:
            evidence["omissions"] = [{"reason": "diff_truncated", "count": 1}]
    payload = {
        "task": task,
        "reviewer_instruction": instruction,
        "changed_targets": targets,
        "repository_evidence": evidence,
        "reviewer_report": report,
    }
    return "\n\n".join(
        [
            RULES,
            "When the work is complete, missing_obligations must be empty. Otherwise list "
            "each concrete path that is not verified.",
            json.dumps(payload, indent=2, ensure_ascii=False),
        ]
    )


def judge_call(index: int, prompt: str) -> Call:
    return Call(
        JUDGE,
        1,
        prompt,
        name=str(index),
        system=SYSTEM,
        schema=SCHEMA,
        tools=True,
        tool_names=READ_ONLY_TOOLS,
        judge=True,
        tolerant=True,
        allow_empty=True,
    )


def episode(
    movement: Movement,
    answers: Sequence[Answer],
    *,
    task: str,
    prompt: str,
    response: str,
    baseline: str | None,
    after_retry: Callable[[int, str], Call | str],
) -> Call | tuple[str, Diagnostic | None]:
    """The next call of the episode, or (final answer, diagnostic or None).

    ``prompt`` is the full Phase 1 prompt; ``after_retry(k, answer)`` runs what follows
    a successful re-run before it is judged (the companion rounds)."""
    config = movement.completion_retry
    assert config is not None
    answers = list(answers)
    decision: Decision | None = None
    for k in range(config.max_retry + 1):
        if k > 0:
            gaps = decision.gaps if decision else ()
            rerun = find(answers, RETRY, str(k))
            if rerun is None:
                return Call(
                    RETRY,
                    1,
                    retry_prompt(prompt, config.retry_instruction, gaps),
                    name=str(k),
                    conversation=True,
                    tools=True,
                    tolerant=True,
                    allow_empty=True,
                )
            if usable(rerun):
                after = after_retry(k, rerun.content)
                if isinstance(after, Call):
                    return after
                response = after
            else:
                failure = rerun.error or (
                    "the re-run answered nothing"
                    if rerun.status == "done"
                    else f"the re-run answered {rerun.status}"
                )
                if k == config.max_retry:
                    return response, Diagnostic("reviewer_retry_failed", k + 1, k, failure, gaps)
                continue
        changes = None
        if baseline is not None:
            probe = find(answers, DIFF, f"judge {k}")
            if probe is None:
                return diff_call(f"judge {k}", baseline)
            changes = changes_of(probe)
        judged = find(answers, JUDGE, str(k))
        if judged is None:
            return judge_call(k, judge_prompt(task, prompt, response, changes))
        try:
            decision = parse_decision(judged)
        except DecisionInvalid as exc:
            return response, Diagnostic("judge_unavailable", k + 1, k, str(exc))
        if (k < config.min_retry or not decision.complete) and k < config.max_retry:
            continue
        if not decision.complete:
            return response, Diagnostic(
                "max_retry_reached", k + 1, k, decision.reason, decision.gaps
            )
        return response, None
    raise AssertionError("the completion episode always ends inside its loop")
