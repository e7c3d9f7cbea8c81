"""Resolved pieces: every facet text inlined, every condition parsed, both TAKT dialects.

A job stores ``piece.model_dump(mode="json")`` when it is accepted and workers rebuild
the piece with ``Piece.model_validate``; so these models must round-trip exactly and
must not depend on any file still being where it was.

Two dialects share one model. ``piece`` is TAKT 0.31's format (pieces of movements),
``workflow`` is TAKT v0.60's (workflows of steps). The engine reads ``Piece.dialect``
wherever the two run differently (tag numbering, when Phase 3 runs, fallbacks, parallel
failures, loop monitors; see ../shared/takt/SEMANTICS.md §8).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pieces.problems import Problem

PermissionMode = Literal["readonly", "edit", "full"]
Dialect = Literal["piece", "workflow"]
MovementKind = Literal["agent", "parallel", "team_leader", "workflow_call", "system"]
ConditionKind = Literal["label", "ai", "all", "any", "when", "label_when"]
COMPLETE, ABORT = "COMPLETE", "ABORT"
MAX_SESSION_KEY = 200  # longer session keys are recorded as a digest
TERMINALS = (COMPLETE, ABORT)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rule(_Frozen):
    index: int  # 0-based position in the movement's rules
    condition: str  # as written in the file
    kind: ConditionKind = "label"
    # The semantic label (label, label_when) or the ai("…") text.
    label: str | None = None
    # all()/any() arguments. TAKT 0.31 compares them to the sub-movements' raw conditions.
    args: list[str] = []
    when: str | None = None  # the when(...) expression (workflow dialect)
    # None on a parallel sub-movement's rule (the parent routes) and on "return" rules.
    next: str | None = None
    returns: str | None = None  # workflow dialect: `return: <label>` ends a called workflow
    appendix: str | None = None
    requires_user_input: bool = False
    interactive_only: bool = False


class OutputContract(_Frozen):
    name: str  # report file name, relative to the report directory
    label: str | None = None
    format: str | None = None  # resolved text
    order: str | None = None  # resolved text (the report-writing instruction)
    use_judge: bool = True


class TeamLeader(_Frozen):
    persona: str | None = None
    persona_file: bool = False
    max_parts: int = 3
    refill_threshold: int = 0
    timeout_ms: int = 600_000
    part_persona: str | None = None
    part_persona_file: bool = False
    part_allowed_tools: list[str] | None = None
    part_edit: bool | None = None
    part_permission_mode: PermissionMode | None = None
    # Workflow dialect (TAKT v0.60's additions).
    initial_max_parts: int | None = None
    fail_on_part_error: bool | None = None
    part_tags: list[str] = []
    inspect_tools: list[str] | None = None


class QualityGate(_Frozen):
    """A workflow-dialect command gate run in the job's workspace after a done step."""

    command: str
    name: str | None = None
    cwd: str | None = None
    timeout_ms: int = 300_000


class DynamicParallel(_Frozen):
    """`parallel: {fixed, pool, selection}`: a selector picks pool members per visit."""

    fixed: list[str] = []  # names of members in Movement.parallel that always run
    pool: list[str] = []  # names of selectable members
    pool_descriptions: dict[str, str] = {}
    mode: Literal["replace", "cumulative"] = "replace"
    reports: list[str] = []
    selector_persona: str | None = None
    selector_persona_file: bool = False
    selector_instruction: str | None = None


class CompletionRetry(_Frozen):
    """Workflow dialect: re-run a step whose work a completion judge finds unfinished."""

    min_retry: int = 0
    max_retry: int = 4
    retry_instruction: str = ""  # resolved text


class FacetCandidate(_Frozen):
    """One selectable entry of a facet pool: its policies and knowledge, resolved."""

    id: str
    description: str
    policies: list[str] = []
    knowledge: list[str] = []


class FacetPool(_Frozen):
    candidates: list[FacetCandidate] = []


class DynamicFacets(_Frozen):
    """`dynamic_facets`: a selector picks pool candidates whose facets join the step's."""

    pool: str  # a key of Piece.facet_pools
    max_selected: int | None = None
    selector_persona: str | None = None
    selector_persona_file: bool = False
    selector_instruction: str | None = None


class Companion(_Frozen):
    """An advisory reviewer that watches a step while it runs (TAKT's companions/*.yaml)."""

    name: str
    description: str = ""
    persona: str | None = None
    persona_file: bool = False
    policies: list[str] = []
    knowledge: list[str] = []
    instruction: str = ""
    interval_ms: int = 15_000


class CompanionSpec(_Frozen):
    fixed: list[Companion] = []
    pool: list[Companion] = []
    moderator: Companion | None = None


class Movement(_Frozen):
    name: str
    description: str | None = None
    kind: MovementKind = "agent"
    persona: str | None = None  # the resolved persona text (file content) or the literal spec
    # True when the persona came from a file: TAKT then frames it with the piece's flow.
    persona_file: bool = False
    persona_name: str | None = None
    policies: list[str] = []
    knowledge: list[str] = []
    instruction: str = "{task}"  # the template, placeholders not yet expanded
    edit: bool | None = None
    required_permission_mode: PermissionMode | None = None
    # The tools Phase 1 offers (TAKT's provider_options.<p>.allowed_tools or capabilities).
    allowed_tools: list[str] = []
    session: Literal["continue", "refresh", "compact"] = "continue"
    session_key: str | None = None
    pass_previous_response: bool = True
    model: str | None = None
    provider: str | None = None
    rules: list[Rule] = []
    parallel: list[Movement] = []
    concurrency: int | None = None
    dynamic: DynamicParallel | None = None
    team_leader: TeamLeader | None = None
    output_contracts: list[OutputContract] = []
    quality_gates: list[str] = []
    gate_commands: list[QualityGate] = []
    allow_git_commit: bool = False
    # workflow_call (workflow dialect): the key of the callee in Piece.callees (its name,
    # or "name@digest" when args bind its params), the bound args and the vars.
    call: str | None = None
    args: dict[str, Any] = {}
    vars: dict[str, Any] = {}
    structured_output: dict[str, Any] | None = None  # a JSON schema for Phase 1
    delay_before_ms: int | None = None
    # kind: system (workflow dialect)
    system_inputs: list[dict[str, Any]] = []
    effects: list[dict[str, Any]] = []
    # legato: the queue this movement runs on, and a registered agent configuration.
    tier: str | None = None
    agent: str | None = None
    # Workflow dialect, appended after the fields above (see pieces/README.md).
    capabilities: list[str] = []  # the capability sets allowed_tools came from
    requires_user_input: bool = False  # the step only runs with a human at hand
    structured_output_ref: str | None = None  # the schema name structured_output came from
    completion_retry: CompletionRetry | None = None
    dynamic_facets: DynamicFacets | None = None
    companion: CompanionSpec | None = None

    @property
    def is_parallel(self) -> bool:
        return bool(self.parallel)

    @property
    def conversation_key(self) -> str:
        """Movements sharing this key continue one conversation (TAKT's session key).

        A persona read from a file is its text here; a long key becomes a digest of
        itself, which groups the same movements and fits the phase records' column."""
        base = self.session_key or self.persona or self.name
        key = f"{base}:{self.provider}" if self.provider else base
        if len(key) > MAX_SESSION_KEY:
            return "persona-" + hashlib.sha256(key.encode()).hexdigest()[:32]
        return key

    def sub_movement(self, name: str) -> Movement:
        for sub in self.parallel:
            if sub.name == name:
                return sub
        raise KeyError(name)


class LoopMonitor(_Frozen):
    cycle: list[str]
    threshold: int = 3
    ignore_steps: list[str] = []
    # A movement-shaped judge, so the phases run on it unchanged.
    judge: Movement | None = None


class Subworkflow(_Frozen):
    callable: bool = False
    params: dict[str, dict[str, Any]] = {}
    returns: list[str] = []


class Piece(_Frozen):
    name: str
    dialect: Dialect = "piece"
    description: str | None = None
    # None: no limit (the workflow dialect's `max_steps: infinite`).
    max_movements: int | None = 10
    initial_movement: str
    movements: list[Movement]
    loop_monitors: list[LoopMonitor] = []
    # Workflow dialect: prose rules injected into every Phase 1 prompt.
    all_steps_rules: list[str] = []
    all_steps_rules_before: list[str] = []
    subworkflow: Subworkflow | None = None
    # Workflows this one's steps call, resolved at submission (key -> piece); each callee
    # holds its own callees in turn, so any piece of the tree is self-contained.
    callees: dict[str, Piece] = Field(default_factory=dict)
    # Workflows this one's system steps enqueue (enqueue_task), by name, resolved at
    # submission like callees; each runs as a job of its own (app/effects.py).
    enqueues: dict[str, Piece] = Field(default_factory=dict)
    warnings: list[Problem] = []
    source: str | None = None  # where it was loaded from, for display only
    # Workflow dialect: the facet pools dynamic_facets selects from.
    facet_pools: dict[str, FacetPool] = {}
    # Workflow dialect: the workflow_call vars a called workflow runs with ({var:name});
    # set on a child job's snapshot only (pieces/call_run.py).
    vars: dict[str, str] = {}

    @property
    def words(self) -> tuple[str, str]:
        """("piece", "movement") or ("workflow", "step"): the file's own vocabulary."""
        return ("piece", "movement") if self.dialect == "piece" else ("workflow", "step")

    def movement(self, name: str) -> Movement:
        """A top-level movement, or a parallel sub-movement, by name."""
        for mv in self.movements:
            if mv.name == name:
                return mv
        for mv in self.movements:
            for sub in mv.parallel:
                if sub.name == name:
                    return sub
        raise KeyError(name)

    def parent_of(self, name: str) -> Movement | None:
        """The parallel movement holding sub-movement ``name``, if it is one."""
        for mv in self.movements:
            if any(sub.name == name for sub in mv.parallel):
                return mv
        return None

    def all_movements(self) -> Iterator[Movement]:
        for mv in self.movements:
            yield mv
            yield from mv.parallel
