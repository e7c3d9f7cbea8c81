"""The piece suite's scenarios: a script per phase, and the path TAKT 0.31 takes with it.

Each scenario is checked twice: by the pure walk over the engine's own functions
(tests/unit/pieces/test_piece_suite.py) and end to end on real workers with the fake
model answering the same script (tests/integration/test_piece_suite.py). The expected
values are TAKT's (../shared/takt/SEMANTICS.md); see tests/piece_suite/scripted.py for
the script tokens.

`calls` counts model calls by kind over the whole job; `methods` lists, in order, how
each top-level movement's rule was found (sub-movements are in `sub_methods`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

JUDGE = "_loop_judge_check_redo"
NO_RULE = (
    'Movement execution failed: Status not found for movement "{}": '
    "no rule matched after all detection phases"
)
TRANSITION = "Piece aborted by movement transition"
MAX = "Max movements reached"


@dataclass(frozen=True)
class Scenario:
    id: str
    piece: str
    script: dict[str, list[str]]
    path: list[str]
    end: str  # "COMPLETE", or "ABORT: <TAKT's abort reason>"
    methods: list[str]
    calls: dict[str, int]
    sub_methods: dict[str, list[str]] = field(default_factory=dict)
    interactive: bool = False
    inputs: int = 0  # how many user inputs the job waits for
    reports: tuple[str, ...] = ()  # report names stored when the job ends


S = "structured_output"


def _c(**kinds: int) -> dict[str, int]:
    return {k: v for k, v in kinds.items() if v}


SCENARIOS = [
    # -- linear: every movement judged in Phase 3 ------------------------------------------
    Scenario(
        "linear-happy",
        "linear",
        {},
        ["gather", "summarise", "publish"],
        "COMPLETE",
        [S, S, S],
        _c(execute=3, judge_structured=3),
    ),
    Scenario(
        "linear-loop-back",
        "linear",
        {"summarise": ["s2", "s1"]},
        ["gather", "summarise", "gather", "summarise", "publish"],
        "COMPLETE",
        [S] * 5,
        _c(execute=5, judge_structured=5),
    ),
    Scenario(
        "linear-abort-rule",
        "linear",
        {"gather": ["s2"]},
        ["gather"],
        f"ABORT: {TRANSITION}",
        [S],
        _c(execute=1, judge_structured=1),
    ),
    Scenario(
        "linear-tag-stage",
        "linear",
        {"gather": ["t1"]},
        ["gather", "summarise", "publish"],
        "COMPLETE",
        ["phase3_tag", S, S],
        _c(execute=3, judge_structured=3, judge_tag=1),
    ),
    Scenario(
        "linear-ai-judge",
        "linear",
        {"summarise": ["j2", "s1"]},
        ["gather", "summarise", "gather", "summarise", "publish"],
        "COMPLETE",
        [S, "ai_judge", S, S, S],
        _c(execute=5, judge_structured=5, judge_tag=1, judge_ai=1),
    ),
    Scenario(
        "linear-phase1-tag",
        "linear",
        {"publish": ["p1"]},
        ["gather", "summarise", "publish"],
        "COMPLETE",
        [S, S, "phase1_tag"],
        _c(execute=3, judge_structured=3, judge_tag=1, judge_ai=1),
    ),
    Scenario(
        "linear-fallback-all",
        "linear",
        {"publish": ["f2"]},
        ["gather", "summarise", "publish"],
        f"ABORT: {TRANSITION}",
        [S, S, "ai_judge_fallback"],
        _c(execute=3, judge_structured=3, judge_tag=1, judge_ai=1, fallback_all=1),
    ),
    Scenario(
        "linear-no-rule",
        "linear",
        {"gather": ["x"]},
        ["gather"],
        "ABORT: " + NO_RULE.format("gather"),
        [None],
        _c(execute=1, judge_structured=1, judge_tag=1, judge_ai=1, fallback_all=1),
    ),
    # -- judged: labels with ai(), and ai() alone ---------------------------------------------
    Scenario(
        "judged-label",
        "judged",
        {"triage": ["s2"]},
        ["triage", "feature"],
        "COMPLETE",
        [S, "auto_select"],
        _c(execute=2, judge_structured=1),
    ),
    Scenario(
        "judged-ai-rule-in-phase3",
        "judged",
        {"triage": ["s3"]},
        ["triage"],
        f"ABORT: {TRANSITION}",
        [S],
        _c(execute=1, judge_structured=1),
    ),
    Scenario(
        "judged-ai-fallback",
        "judged",
        {"triage": ["a1"]},
        ["triage"],
        f"ABORT: {TRANSITION}",
        ["ai_judge"],
        _c(execute=1, judge_structured=1, judge_tag=1, judge_ai=1, fallback_ai=1),
    ),
    Scenario(
        "judged-ai-only",
        "judged",
        {},
        ["triage", "bugfix"],
        "COMPLETE",
        [S, "ai_judge"],
        _c(execute=2, judge_structured=1, fallback_ai=1),
    ),
    Scenario(
        "judged-ai-only-second",
        "judged",
        {"bugfix": ["a2"]},
        ["triage", "bugfix", "feature"],
        "COMPLETE",
        [S, "ai_judge", "auto_select"],
        _c(execute=3, judge_structured=1, fallback_ai=1),
    ),
    # -- parallel: aggregates over sub-movements ---------------------------------------------
    Scenario(
        "parallel-all-ok",
        "parallel",
        {},
        ["prepare", "reviewers", "finish"],
        "COMPLETE",
        ["auto_select", "aggregate", "auto_select"],
        _c(execute=4, judge_structured=2),
        sub_methods={"alpha": [S], "beta": [S]},
    ),
    Scenario(
        "parallel-positional",
        "parallel",
        {"beta": ["s2", "s1"]},
        ["prepare", "reviewers", "fix-beta", "reviewers", "finish"],
        "COMPLETE",
        ["auto_select", "aggregate", "auto_select", "aggregate", "auto_select"],
        _c(execute=7, judge_structured=4),
        sub_methods={"alpha": [S, S], "beta": [S, S]},
    ),
    Scenario(
        "parallel-any-of-two",
        "parallel",
        {"alpha": ["s2", "s1"]},
        ["prepare", "reviewers", "fix-all", "reviewers", "finish"],
        "COMPLETE",
        ["auto_select", "aggregate", "auto_select", "aggregate", "auto_select"],
        _c(execute=7, judge_structured=4),
        sub_methods={"alpha": [S, S], "beta": [S, S]},
    ),
    Scenario(
        "parallel-any-blocked",
        "parallel",
        {"beta": ["s3"]},
        ["prepare", "reviewers"],
        f"ABORT: {TRANSITION}",
        ["auto_select", "aggregate"],
        _c(execute=3, judge_structured=2),
        sub_methods={"alpha": [S], "beta": [S]},
    ),
    Scenario(
        "parallel-sub-unmatched",
        "parallel",
        {"alpha": ["x"], "reviewers": ["x"]},
        ["prepare", "reviewers"],
        "ABORT: " + NO_RULE.format("reviewers"),
        ["auto_select", None],
        _c(execute=3, judge_structured=2, judge_tag=1, judge_ai=1, fallback_all=2),
        sub_methods={"alpha": [None], "beta": [S]},
    ),
    Scenario(
        "parallel-sub-unmatched-judged",
        "parallel",
        {"alpha": ["x"]},
        ["prepare", "reviewers", "finish"],
        "COMPLETE",
        ["auto_select", "ai_judge_fallback", "auto_select"],
        _c(execute=4, judge_structured=2, judge_tag=1, judge_ai=1, fallback_all=2),
        sub_methods={"alpha": [None], "beta": [S]},
    ),
    # -- loop monitors ---------------------------------------------------------------------
    Scenario(
        "loop-passes",
        "loop",
        {},
        ["write", "check"],
        "COMPLETE",
        ["auto_select", S],
        _c(execute=2, judge_structured=1, report=1),
        reports=("check.md",),
    ),
    Scenario(
        "loop-judge-goes-on",
        "loop",
        {"check": ["s2", "s2", "s1"]},
        ["write", "check", "redo", "check", "redo", JUDGE, "check"],
        "COMPLETE",
        ["auto_select", S, "auto_select", S, "auto_select", S, S],
        _c(execute=7, judge_structured=4, report=3),
        reports=("check.md",),
    ),
    Scenario(
        "loop-judge-escalates",
        "loop",
        {"check": ["s2", "s2"], JUDGE: ["s2"]},
        ["write", "check", "redo", "check", "redo", JUDGE, "escalate"],
        "COMPLETE",
        ["auto_select", S, "auto_select", S, "auto_select", S, "auto_select"],
        _c(execute=7, judge_structured=3, report=2),
        reports=("check.md",),
    ),
    Scenario(
        "loop-fires-again",
        "loop",
        {"check": ["s2", "s2", "s2", "s2", "s1"]},
        [
            "write",
            "check",
            "redo",
            "check",
            "redo",
            JUDGE,
            "check",
            "redo",
            "check",
            "redo",
            JUDGE,
            "check",
        ],
        "COMPLETE",
        [
            "auto_select",
            S,
            "auto_select",
            S,
            "auto_select",
            S,
            S,
            "auto_select",
            S,
            "auto_select",
            S,
            S,
        ],
        _c(execute=12, judge_structured=7, report=5),
        reports=("check.md",),
    ),
    Scenario(
        "loop-max-movements",
        "loop",
        {"check": ["s2"] * 6},
        [
            "write",
            "check",
            "redo",
            "check",
            "redo",
            JUDGE,
            "check",
            "redo",
            "check",
            "redo",
            JUDGE,
            "check",
        ],
        f"ABORT: {MAX}",
        [
            "auto_select",
            S,
            "auto_select",
            S,
            "auto_select",
            S,
            S,
            "auto_select",
            S,
            "auto_select",
            S,
            S,
        ],
        _c(execute=12, judge_structured=7, report=5),
        reports=("check.md",),
    ),
    Scenario(
        "override-complete",
        "override",
        {"_loop_judge_a_b": ["s2"]},
        ["a", "b", "_loop_judge_a_b"],
        f"ABORT: {TRANSITION}",
        ["auto_select", S, S],
        _c(execute=3, judge_structured=2),
    ),
    Scenario(
        "override-agrees",
        "override",
        {},
        ["a", "b", "_loop_judge_a_b"],
        "COMPLETE",
        ["auto_select", S, S],
        _c(execute=3, judge_structured=2),
    ),
    # -- limits, inputs, reports, sessions, tiers, TAKT spellings ---------------------------
    Scenario(
        "max-movements",
        "max-movements",
        {},
        ["ping", "pong", "ping", "pong"],
        f"ABORT: {MAX}",
        ["auto_select", S, "auto_select", S],
        _c(execute=4, judge_structured=2),
    ),
    Scenario(
        "max-movements-complete",
        "max-movements",
        {"pong": ["s2"]},
        ["ping", "pong"],
        "COMPLETE",
        ["auto_select", S],
        _c(execute=2, judge_structured=1),
    ),
    Scenario(
        "inputs-interactive",
        "user-inputs",
        {"ask": ["s2", "s1"]},
        ["ask", "ask", "answer"],
        "COMPLETE",
        [S, S, "auto_select"],
        _c(execute=3, judge_structured=2),
        interactive=True,
        inputs=1,
    ),
    Scenario(
        "inputs-hidden-rule",
        "user-inputs",
        {"ask": ["s2"]},
        ["ask"],
        "ABORT: " + NO_RULE.format("ask"),
        [None],
        _c(execute=1, judge_structured=1, judge_tag=1, judge_ai=1, fallback_all=1),
    ),
    Scenario(
        "reports-happy",
        "reports",
        {},
        ["outline", "write", "check"],
        "COMPLETE",
        ["auto_select", S, S],
        _c(execute=3, report=4, judge_structured=2),
        reports=("draft.md", "notes.md", "outline.md", "verdict.md"),
    ),
    Scenario(
        "reports-retried",
        "reports",
        {"write": ["r0,s1"]},
        ["outline", "write", "check"],
        "COMPLETE",
        ["auto_select", S, S],
        _c(execute=3, report=4, report_retry=2, judge_structured=2),
        reports=("draft.md", "notes.md", "outline.md", "verdict.md"),
    ),
    Scenario(
        "reports-failed",
        "reports",
        {"write": ["rx,s1"]},
        ["outline", "write"],
        "ABORT: Movement execution failed: Report phase failed for draft.md: "
        "Report output is empty",
        ["auto_select", None],
        _c(execute=2, report=2, report_retry=1),
        reports=("outline.md",),
    ),
    Scenario(
        "sessions",
        "sessions",
        {},
        ["draft", "critique", "revise", "final"],
        "COMPLETE",
        ["auto_select"] * 4,
        _c(execute=4),
    ),
    Scenario(
        "tiers",
        "tiers",
        {},
        ["scout", "analyse", "conclude", "wrap"],
        "COMPLETE",
        ["auto_select", "aggregate", "auto_select", "auto_select"],
        _c(execute=5),
        sub_methods={"quick": ["auto_select"], "deep": ["auto_select"]},
    ),
    Scenario(
        "takt-compat",
        "takt-compat",
        {},
        ["plan", "build"],
        'ABORT: Movement execution failed: No matching rule found for movement "build" '
        "(status: done)",
        ["auto_select", None],
        _c(execute=2, report=1),
        reports=("plan.md",),
    ),
]
