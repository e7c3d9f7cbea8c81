"""Scenarios for TAKT v0.60's runtime features, on the suite's ``wf-run-*`` workflows.

Each scenario is checked twice, like the piece suite's: by the pure walk over the
engine's own functions (tests/unit/pieces/test_runtime_suite.py) and end to end on real
workers with the fake model answering the same script
(tests/integration/test_runtime_suite.py). A script answers one call from what it is
(`Ask`: the step, the kind of call, its name, the step's visit, the prompt) with a
`Say`: text, files the agent writes with its Write tool before answering (end to end
only: the workspace is real there), a failure, or, for the pure walk, what a local
call finds (a gate's result, a workspace look's digest) that the worker finds for real.

`calls` counts model calls by kind (what the fake model sees), `local` the worker's
local calls (recorded as phases); `members` lists, per visit of a parallel step, the
members that ran; `limits` the concurrency each parallel step must keep to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ask:
    movement: str
    kind: str
    name: str | None
    visit: int
    prompt: str


@dataclass(frozen=True)
class Say:
    text: str = ""
    writes: tuple[tuple[str, str], ...] = ()  # (path, content) written before answering
    fail: str | None = None  # the call fails (an error answer; the fake answers 400)
    passed: bool = True  # a command gate's result (pure walk)
    refused: bool = False  # a command gate refused (shell off; pure walk)
    digest: str | None = None  # a workspace look: what changed (pure walk); None: nothing


Script = Callable[[Ask], "Say | str | None"]


def select(*ids: str) -> str:
    return json.dumps({"selected_ids": list(ids), "rationale": "scripted"})


def step(number: int) -> str:
    return json.dumps({"step": number, "reason": "scripted"})


def decision(complete: bool, *gaps: str) -> str:
    missing = [
        {"kind": "changed_target_gap", "contract_family": "docs", "path": p, "reason": "unchecked"}
        for p in gaps
    ]
    return json.dumps({"complete": complete, "reason": "scripted", "missing_obligations": missing})


def findings(*items: tuple[int, str]) -> str:
    return json.dumps(
        {
            "findings": [
                {"severity": "should_fix", "file": "draft.md", "line": line, "finding": text}
                for line, text in items
            ],
            "notes": None,
        }
    )


def rulings(*actions: str) -> str:
    return json.dumps(
        {"findings": [{"action": a, "sourceIndex": i} for i, a in enumerate(actions)]}
    )


def default(ask: Ask) -> Say | str | None:
    """What every call answers unless a scenario says otherwise."""
    if ask.kind in ("execute", "completion_retry", "companion_follow_up"):
        return f"Answer from {ask.movement} (visit {ask.visit})."
    if ask.kind in ("report", "report_retry"):
        return f"Report from {ask.movement} (visit {ask.visit})."
    if ask.kind == "judge_structured":
        return step(1)
    if ask.kind == "completion_judge":
        return decision(True)
    if ask.kind == "companion_review":
        return findings()
    if ask.kind == "companion_moderate":
        return rulings()
    return None


def scripted(*rules: tuple[Callable[[Ask], bool], Say | str]) -> Script:
    """A script: the first rule whose predicate holds answers, else `default`."""

    def answer(ask: Ask) -> Say | str | None:
        for predicate, say in rules:
            if predicate(ask):
                return say
        return default(ask)

    return answer


def on(movement: str, kind: str, visit: int | None = None, name: str | None = None):
    def match(ask: Ask) -> bool:
        return (
            ask.movement == movement
            and ask.kind == kind
            and (visit is None or ask.visit == visit)
            and (name is None or ask.name == name)
        )

    return match


@dataclass(frozen=True)
class RunScenario:
    id: str
    workflow: str
    script: Script
    path: list[str]
    end: str  # "COMPLETE" or "ABORT: <reason>"
    methods: list[str | None]
    calls: dict[str, int]
    local: dict[str, int] = field(default_factory=dict)
    members: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)
    companions: bool = False  # COMPANIONS_ENABLED (and TOOLS_ALLOW_SHELL) on the worker
    shell: bool = False  # the worker allows the shell (command gates)
    # Workflow calls: each called workflow as (workflow, path, end) in the order they
    # ended, and the iteration of each top-level step of the caller (the shared budget).
    called: list[tuple[str, list[str], str]] = field(default_factory=list)
    iterations: list[int] | None = None


def _c(**kinds: int) -> dict[str, int]:
    return {k: v for k, v in kinds.items() if v}


S, AUTO, AGG, GATE = "structured_output", "auto_select", "aggregate", "quality_gate"
CALL = "workflow_call"
CALLEE = "wf-run-callee"
LIMIT = 'Parallel step "review" exceeded its explicit error retry limit (3)'
SELECTOR_FAIL = (
    'Step execution failed: Dynamic parallel selector for step "review" failed: '
    'unknown candidate id "nobody"'
)
FACETS_FAIL = (
    'Step execution failed: Dynamic facet selector for step "write" failed: '
    "selected 2 candidates, more than 1"
)
REFUSED = (
    'Step "build" cannot run its quality gate "done file exists": shell execution is '
    "disabled on this deployment (TOOLS_ALLOW_SHELL)"
)

RUN_SCENARIOS = [
    # -- dynamic parallel ----------------------------------------------------------------
    RunScenario(
        "parallel-select",
        "wf-run-parallel",
        scripted((on("review", "parallel_select"), select("tone", "facts"))),
        ["draft", "review"],
        "COMPLETE",
        [AUTO, AGG],
        _c(execute=4, report=1, judge_structured=3, parallel_select=1),
        members=[("review", ("style", "facts", "tone"))],
        limits={"review": 2},
    ),
    RunScenario(
        "parallel-replace",
        "wf-run-parallel",
        scripted(
            (on("review", "parallel_select", 1), select("legal")),
            (on("review", "parallel_select", 2), select("facts")),
            (on("style", "judge_structured", 1), step(2)),
        ),
        ["draft", "review", "draft", "review"],
        "COMPLETE",
        [AUTO, AGG, AUTO, AGG],
        _c(execute=6, report=2, judge_structured=4, parallel_select=2),
        members=[("review", ("style", "legal")), ("review", ("style", "facts"))],
        limits={"review": 2},
    ),
    RunScenario(
        "parallel-error-limit",
        "wf-run-parallel",
        scripted(
            (on("review", "parallel_select"), select()),
            (on("style", "execute"), Say(fail="the reviewer crashed")),
        ),
        ["draft", "review", "recover", "review", "recover", "review", "recover", "review"],
        f"ABORT: {LIMIT}",
        [AUTO, AGG, S, AGG, S, AGG, S, None],
        _c(execute=8, report=1, judge_structured=3, parallel_select=4),
        members=[("review", ("style",))] * 4,
        limits={"review": 2},
    ),
    RunScenario(
        "parallel-selector-invalid",
        "wf-run-parallel",
        scripted((on("review", "parallel_select"), select("nobody"))),
        ["draft", "review"],
        f"ABORT: {SELECTOR_FAIL}",
        [AUTO, None],
        _c(execute=1, report=1, parallel_select=1),
    ),
    # -- dynamic facets ------------------------------------------------------------------
    RunScenario(
        "facets-select",
        "wf-run-facets",
        scripted(
            (on("write", "facet_select"), select("domain")),
            (on("proof", "facet_select"), select("style")),
        ),
        ["write", "check"],
        "COMPLETE",
        [AUTO, AGG],
        _c(facet_select=2, execute=3, judge_structured=2),
        members=[("check", ("proof", "count"))],
    ),
    RunScenario(
        "facets-reentry",
        "wf-run-facets",
        scripted(
            (on("write", "facet_select", 1), select("domain")),
            (on("write", "facet_select", 2), select("style")),
            (on("proof", "facet_select"), select()),
            (on("proof", "judge_structured", 1), step(2)),
        ),
        ["write", "check", "write", "check"],
        "COMPLETE",
        [AUTO, AGG, AUTO, AGG],
        _c(facet_select=4, execute=6, judge_structured=4),
        members=[("check", ("proof", "count"))] * 2,
    ),
    RunScenario(
        "facets-too-many",
        "wf-run-facets",
        scripted((on("write", "facet_select"), select("style", "domain"))),
        ["write"],
        f"ABORT: {FACETS_FAIL}",
        [None],
        _c(facet_select=1),
    ),
    # -- completion_retry ----------------------------------------------------------------
    RunScenario(
        "completion-min-retry",
        "wf-run-completion",
        scripted(),
        ["fix"],
        "COMPLETE",
        [AUTO],
        _c(execute=1, completion_judge=2, completion_retry=1, report=1),
        local=_c(workspace_baseline=1, workspace_diff=2),
    ),
    RunScenario(
        "completion-max-retry",
        "wf-run-completion",
        scripted((on("fix", "completion_judge"), decision(False, "docs/guide.md"))),
        ["fix"],
        "COMPLETE",
        [AUTO],
        _c(execute=1, completion_judge=3, completion_retry=2, report=1),
        local=_c(workspace_baseline=1, workspace_diff=3),
    ),
    RunScenario(
        "completion-judge-fails",
        "wf-run-completion",
        scripted((on("fix", "completion_judge"), "I cannot tell.")),
        ["fix"],
        "COMPLETE",
        [AUTO],
        _c(execute=1, completion_judge=1, report=1),
        local=_c(workspace_baseline=1, workspace_diff=1),
    ),
    # -- companions ----------------------------------------------------------------------
    RunScenario(
        "companion-rounds",
        "wf-run-companion",
        scripted(
            (on("write", "companion_select"), select("suite-proofreader")),
            (on("write", "execute"), Say("First draft written.", (("draft.md", "v1\n"),))),
            (on("write", "workspace_diff", name="review 0.1"), Say(digest="v1")),
            (on("write", "workspace_diff", name="review 0.2"), Say(digest="v2")),
            (
                on("write", "companion_review", name="0.1:suite-watcher"),
                findings((1, "too long"), (1, "use a list")),
            ),
            (
                on("write", "companion_moderate", name="0.1:suite-watcher"),
                rulings("reject", "accept"),
            ),
            (
                on("write", "companion_follow_up"),
                Say("Turned the line into a list.", (("draft.md", "- v2\n"),)),
            ),
        ),
        ["write"],
        "COMPLETE",
        [AUTO],
        _c(
            companion_select=1,
            execute=1,
            companion_review=4,
            companion_moderate=1,
            companion_follow_up=1,
        ),
        local=_c(workspace_baseline=1, workspace_diff=2),
        companions=True,
    ),
    RunScenario(
        "companion-bounded",
        "wf-run-companion",
        scripted(
            (on("write", "companion_select"), select()),
            (on("write", "execute"), Say("Draft.", (("draft.md", "v1\n"),))),
            (on("write", "workspace_diff", name="review 0.1"), Say(digest="v1")),
            (on("write", "workspace_diff", name="review 0.2"), Say(digest="v2")),
            (on("write", "companion_review"), findings((1, "still too long"))),
            (on("write", "companion_moderate"), rulings("accept")),
            (
                on("write", "companion_follow_up", name="0.1"),
                Say("Shorter.", (("draft.md", "v2\n"),)),
            ),
            (
                on("write", "companion_follow_up", name="0.2"),
                Say("Shorter still.", (("draft.md", "v3\n"),)),
            ),
        ),
        ["write"],
        "COMPLETE",
        [AUTO],
        _c(
            companion_select=1,
            execute=1,
            companion_review=2,
            companion_moderate=2,
            companion_follow_up=2,
        ),
        local=_c(workspace_baseline=1, workspace_diff=2),
        companions=True,
    ),
    RunScenario(
        "companion-follow-up-fails",
        "wf-run-companion",
        scripted(
            (on("write", "companion_select"), select()),
            (on("write", "execute"), Say("Draft.", (("draft.md", "v1\n"),))),
            (on("write", "workspace_diff"), Say(digest="v1")),
            (on("write", "companion_review"), findings((1, "too long"))),
            (on("write", "companion_moderate"), rulings("accept")),
            (on("write", "companion_follow_up"), Say(fail="the endpoint refused")),
        ),
        ["write"],
        "COMPLETE",
        [AUTO],
        _c(
            companion_select=1,
            execute=1,
            companion_review=1,
            companion_moderate=1,
            companion_follow_up=1,
        ),
        local=_c(workspace_baseline=1, workspace_diff=1),
        companions=True,
    ),
    RunScenario(
        "companions-off",
        "wf-run-companion",
        scripted(),
        ["write"],
        "COMPLETE",
        [AUTO],
        _c(execute=1),
    ),
    # -- command quality gates -----------------------------------------------------------
    RunScenario(
        "gates-rerun",
        "wf-run-gates",
        scripted(
            (on("build", "execute", 2), Say("Built.", (("done.txt", "done\n"),))),
            (on("build", "quality_gate", 1), Say(passed=False)),
            (on("lint", "execute", 2), Say("Linted.", (("lint.ok", ""),))),
            (on("lint", "quality_gate", 1), Say(passed=False)),
        ),
        ["build", "build", "check", "check"],
        "COMPLETE",
        [GATE, AUTO, GATE, AGG],
        _c(execute=4),
        local=_c(quality_gate=4),
        members=[("check", ("lint",))] * 2,
        shell=True,
    ),
    RunScenario(
        "gates-refused",
        "wf-run-gates",
        scripted((on("build", "quality_gate"), Say(refused=True))),
        ["build"],
        f"ABORT: {REFUSED}",
        [None],
        _c(execute=1),
        local=_c(quality_gate=1),
    ),
    # -- workflow_call -------------------------------------------------------------------
    RunScenario(
        "call-complete",
        "wf-run-call",
        scripted(),
        ["draft", "review", "publish"],
        "COMPLETE",
        [AUTO, CALL, AUTO],
        _c(execute=4, report=1, judge_structured=2),
        called=[(CALLEE, ["check", "sign-off"], "COMPLETE")],
        iterations=[1, 2, 4],
    ),
    RunScenario(
        "call-return",
        "wf-run-call",
        scripted((on("check", "judge_structured", 1), step(2))),
        ["draft", "review", "draft", "review", "publish"],
        "COMPLETE",
        [AUTO, CALL, AUTO, CALL, AUTO],
        _c(execute=6, report=2, judge_structured=3),
        called=[(CALLEE, ["check"], "COMPLETE"), (CALLEE, ["check", "sign-off"], "COMPLETE")],
        iterations=[1, 2, 3, 4, 6],
    ),
    RunScenario(
        "call-abort",
        "wf-run-call",
        scripted((on("check", "judge_structured"), step(3))),
        ["draft", "review"],
        "ABORT: Workflow aborted by step transition",
        [AUTO, CALL],
        _c(execute=2, report=1, judge_structured=1),
        called=[(CALLEE, ["check"], "ABORT: Workflow aborted by step transition")],
        iterations=[1, 2],
    ),
    RunScenario(
        # The callee loops check -> sign-off until the root's max_steps (8) is spent
        # inside it: the callee aborts, and so does the caller, with its reason.
        "call-budget",
        "wf-run-call",
        scripted((on("sign-off", "judge_structured"), step(2))),
        ["draft", "review"],
        "ABORT: Max steps reached",
        [AUTO, CALL],
        _c(execute=8, report=4, judge_structured=7),
        called=[(CALLEE, ["check", "sign-off"] * 3 + ["check"], "ABORT: Max steps reached")],
        iterations=[1, 2],
    ),
    RunScenario(
        "call-parallel",
        "wf-run-call-parallel",
        scripted(),
        ["draft", "reviews"],
        "COMPLETE",
        [AUTO, AGG],
        _c(execute=4, report=1, judge_structured=3),
        members=[("reviews", ("deep-review", "quick-look"))],
        called=[(CALLEE, ["check", "sign-off"], "COMPLETE")],
        iterations=[1, 2],
    ),
    RunScenario(
        # The member's callee returns needs_rework: the parallel step counts on from the
        # callee's step, and the next draft takes the one after it.
        "call-parallel-rework",
        "wf-run-call-parallel",
        scripted((on("check", "judge_structured", 1), step(2))),
        ["draft", "reviews", "draft", "reviews"],
        "COMPLETE",
        [AUTO, AGG, AUTO, AGG],
        _c(execute=7, report=2, judge_structured=5),
        members=[("reviews", ("deep-review", "quick-look"))] * 2,
        called=[(CALLEE, ["check"], "COMPLETE"), (CALLEE, ["check", "sign-off"], "COMPLETE")],
        iterations=[1, 2, 4, 5],
    ),
]
