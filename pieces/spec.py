"""What a movement program works on and what it ends with, shared by its dialects.

``MovementSpec`` is everything the pure program needs to know about one run; ``Outcome``
is how the run ended; ``SubResult`` is a finished parallel member as its parent sees
it. The phase kinds name each model call in the run's records and events. Both the
piece dialect (``pieces.program``) and the workflow dialect (``pieces.workflow_rules``)
build on these, so neither imports the other's evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pieces.exchange import Answer
from pieces.judgment import structured_value
from pieces.model import Movement, Piece
from pieces.tags import detect_judge
from pieces.variables import PromptContext

# What ran, in the vocabulary of the run's phase records and events.
EXECUTE, REPORT, REPORT_RETRY = "execute", "report", "report_retry"
JUDGE_STRUCTURED, JUDGE_TAG, JUDGE_AI = "judge_structured", "judge_tag", "judge_ai"
FALLBACK_AI, FALLBACK_ALL = "fallback_ai", "fallback_all"
JUDGE_KINDS = (JUDGE_STRUCTURED, JUDGE_TAG, JUDGE_AI, FALLBACK_AI, FALLBACK_ALL)


@dataclass(frozen=True)
class SubResult:
    """A finished sub-movement of a parallel movement, as its parent sees it."""

    name: str
    content: str
    condition: str | None  # the raw condition its rules matched
    error: str | None = None
    gate_failed: bool = False  # its quality gate failed: content is the failure report


@dataclass(frozen=True)
class Outcome:
    status: Literal["done", "blocked", "error"]
    content: str = ""  # the movement's output: the Phase 1 answer or the aggregate
    rule_index: int | None = None
    method: str | None = None  # how the rule was found
    reports: dict[str, str] = field(default_factory=dict)
    failure: str | None = None  # the abort reason, when status is "error"
    # Why an "error" ended the movement, in TAKT v0.60's terms: "runtime_error" (the
    # agent or its endpoint failed) or "rule_no_match" (every detection stage missed).
    abort_kind: str | None = None
    # status "blocked": what the agent waits for (legato's tools: a human, or subtasks).
    pause: str | None = None
    questions: tuple[str, ...] = ()
    # A command quality gate failed: the rule is discarded and the step runs again.
    gate_failed: bool = False
    # A workflow_call step whose called workflow aborted: an ABORT transition right
    # after it ends the caller with this reason (TAKT's workflowCallFailure).
    call_failure: str | None = None
    # Workflow dialect: what the run adds to the workflow state (pieces/state.py):
    # {"structured": value} or a system step's {"context": …, "effect": …}.
    state: dict[str, Any] | None = None


@dataclass(frozen=True)
class MovementSpec:
    piece: Piece
    movement: Movement
    phase1_prompt: str = ""
    system: str | None = None
    interactive: bool = False
    working_dir: str = "."
    report_dir: str = "reports"
    movement_iteration: int = 1
    task: str = ""
    # Reports of this attempt before this run (what an earlier iteration left behind).
    earlier_reports: dict[str, str] = field(default_factory=dict)
    sub_results: tuple[SubResult, ...] = ()
    # Workflow dialect: what when(...) conditions read (structured.<step>, context.<step>,
    # effect.<step>), accumulated by the job so far.
    state: dict[str, Any] = field(default_factory=dict)
    # Workflow dialect, v0.60 runtime features (pieces/episode.py, dynamic.py, gates.py).
    context: PromptContext | None = None  # to rebuild the Phase 1 prompt (chosen facets)
    companions: bool = False  # COMPANIONS_ENABLED
    companion_rounds: int = 3  # COMPANION_MAX_ROUNDS
    changed_paths: tuple[str, ...] = ()  # what the job changed so far, for selectors
    # The previous visit's selection in this attempt (dynamic facets or parallel members).
    previous_selection: dict[str, Any] | None = None
    participants: tuple[str, ...] | None = None  # a parallel step's members, once started
    error_streak: int = 0  # earlier visits in a row that routed failed members ("error")
    # The Phase 1 prompt could not be built (it names workflow state nobody produced).
    prompt_error: str | None = None


def failed_execution(piece: Piece, message: str) -> str:
    step = piece.words[1].capitalize()
    return f"{step} execution failed: {message}"


def no_rule(piece: Piece, movement: Movement, content: str) -> Outcome:
    return Outcome(
        "error",
        content,
        failure=failed_execution(piece, no_rule_message(piece, movement)),
        abort_kind="rule_no_match",
    )


def no_rule_message(piece: Piece, movement: Movement) -> str:
    return (
        f'Status not found for {piece.words[1]} "{movement.name}": '
        "no rule matched after all detection phases"
    )


def runtime_error(piece: Piece, content: str, failure: str) -> Outcome:
    return Outcome(
        "error", content, failure=failed_execution(piece, failure), abort_kind="runtime_error"
    )


def judge_number(answer: Answer) -> int | None:
    """The number an AI judge answered: structured output first, then ``[JUDGE:N]``."""
    if answer.status != "done":
        return None
    number = structured_value(answer.content, answer.structured, "matched_index")
    if number is not None:
        return number
    index = detect_judge(answer.content)
    return index + 1 if index >= 0 else None
