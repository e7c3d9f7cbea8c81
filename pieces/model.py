"""Resolved pieces: every facet text inlined, every condition parsed.

A job stores ``piece.model_dump(mode="json")`` when it is accepted and workers rebuild
the piece with ``Piece.model_validate``; so these models must round-trip exactly and
must not depend on any file still being where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pieces.conditions import ConditionKind
from pieces.problems import Problem

PermissionMode = Literal["readonly", "edit", "full"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rule(_Frozen):
    index: int
    condition: str
    kind: ConditionKind = "text"
    args: list[str] = []
    # None only on a parallel sub-movement's rule: the parent's all()/any() rules route.
    next: str | None = None
    appendix: str | None = None
    requires_user_input: bool = False
    interactive_only: bool = False


class OutputContract(_Frozen):
    name: str  # report file name, e.g. "00-plan.md"
    label: str | None = None
    format: str | None = None  # resolved format text
    use_judge: bool = False


class Movement(_Frozen):
    name: str
    persona: str | None = None
    persona_name: str | None = None
    policies: list[str] = []
    knowledge: list[str] = []
    instruction: str | None = None  # the template, variables not yet expanded
    edit: bool | None = None
    required_permission_mode: PermissionMode | None = None
    allowed_tools: list[str] = []
    session: str | None = None
    pass_previous_response: bool = True
    model: str | None = None
    provider: str | None = None
    rules: list[Rule] = []
    parallel: list[Movement] = []
    output_contracts: list[OutputContract] = []
    quality_gates: list[str] = []
    tier: str | None = None
    agent: str | None = None

    @property
    def is_parallel(self) -> bool:
        return bool(self.parallel)

    def sub_movement(self, name: str) -> Movement:
        for sub in self.parallel:
            if sub.name == name:
                return sub
        raise KeyError(name)


class LoopMonitor(_Frozen):
    cycle: list[str]
    threshold: int
    # A movement-shaped judge so that build_prompt and the matchers work on it unchanged;
    # None means the trigger simply aborts the job.
    judge: Movement | None = None


class Piece(_Frozen):
    name: str
    description: str | None = None
    max_movements: int = 30
    initial_movement: str
    movements: list[Movement]
    loop_monitors: list[LoopMonitor] = []
    warnings: list[Problem] = []
    source: str | None = None  # where it was loaded from, for display only

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
