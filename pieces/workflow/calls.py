"""``kind: workflow_call``: finding, binding and embedding the workflows a workflow calls.

A called workflow is found by name (``workflows/<name>.yaml``) in the caller's own
library, then along the search path, and compiled with the caller's ``args`` bound to
its ``subworkflow.params``. It must be ``subworkflow.callable: true``; the caller's
rules may route only on ``COMPLETE``, ``ABORT`` and the labels the callee declares in
``subworkflow.returns``. A workflow already on the call chain may not be called again,
and the chain may be at most five workflows deep counting the root (TAKT's limit).

The callee is embedded in the caller's ``Piece.callees`` under a key that the step's
``call`` then holds: the callee's name, or ``name@digest`` when arguments bind its
parameters (one callee may be called with different arguments). Each embedded callee
holds its own callees, so every piece of the tree can run on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pieces.model import Movement, Piece
from pieces.parse import at
from pieces.problems import Problem, did_you_mean
from pieces.workflow.resources import ResourceError, Resources, safe_name
from pieces.workflow.steps import Located

MAX_CALL_DEPTH = 5
MAX_CALLEES = 256  # distinct (workflow, args) pairs one submission may compile
MAX_FORWARDED = 20  # callee problems shown per call site
FOLDER = "workflows"


@dataclass
class Compiled:
    """One workflow compiled with one set of arguments, and the shape of what it calls."""

    piece: Piece | None
    problems: list[Problem]
    height: int = 1  # 1 + the height of its deepest callee
    longest: tuple[str, ...] = ()  # workflow names along its deepest call chain
    files: frozenset[Path] = field(default_factory=frozenset)


# (file, args, chain) -> Compiled: the compile function of the submission.
CompileFile = Callable[[Path, dict[str, Any], tuple[Path, ...]], Compiled]


def call_key(name: str, args: dict[str, Any]) -> str:
    if not args:
        return name
    digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}@{digest}"


def _forward(step_path: str, name: str, problems: list[Problem]) -> list[Problem]:
    """A callee's errors, shown at the call site."""
    out: list[Problem] = []
    errors = [p for p in problems if p.severity == "error"]
    for problem in errors[:MAX_FORWARDED]:
        if problem.path.startswith("args."):
            out.append(Problem(at(step_path, problem.path), problem.message, problem.hint))
            continue
        where = f"{problem.path}: " if problem.path else ""
        out.append(
            Problem(
                at(step_path, "call"),
                f'called workflow "{name}": {where}{problem.message}',
                problem.hint,
            )
        )
    if len(errors) > MAX_FORWARDED:
        out.append(
            Problem(
                at(step_path, "call"),
                f'called workflow "{name}": {len(errors) - MAX_FORWARDED} more errors',
            )
        )
    return out


class Calls:
    """Resolves the workflow_call steps of one compiled workflow."""

    def __init__(
        self,
        res: Resources,
        compile_file: CompileFile,
        chain: tuple[Path, ...],
        names: tuple[str, ...],
    ) -> None:
        self.res = res
        self.compile_file = compile_file
        self.chain = chain  # files from the root to this workflow
        self.names = names
        self.problems: list[Problem] = []
        self.callees: dict[str, Piece] = {}
        self.height = 1
        self.longest: tuple[str, ...] = names[-1:]
        self.files: set[Path] = set(chain[-1:])

    def resolve(self, steps: list[Located]) -> list[Located]:
        out = []
        for step in steps:
            members = [self._one(m) for m in step.members]
            mv = self._one(step).movement
            if members:
                mv = mv.model_copy(update={"parallel": [m.movement for m in members]})
            out.append(Located(mv, step.path, step.parent, step.role, members))
        return out

    def _one(self, step: Located) -> Located:
        mv = step.movement
        if mv.kind != "workflow_call" or not mv.call:
            return step
        found = self._callee(mv, step.path)
        if found is None:
            return step
        key, callee = found
        self.callees[key] = callee
        return Located(mv.model_copy(update={"call": key}), step.path, step.parent, step.role)

    def _callee(self, mv: Movement, path: str) -> tuple[str, Piece] | None:
        where = at(path, "call")
        name = mv.call or ""
        if not safe_name(name):
            self.problems.append(
                Problem(where, f'"{name}" is not a workflow name', "legato calls workflows by name")
            )
            return None
        try:
            file = self.res.find(FOLDER, name, (".yaml", ".yml"))
        except ResourceError as exc:
            self.problems.append(Problem(where, f'workflow "{name}": {exc}'))
            return None
        if file is None:
            self.problems.append(
                Problem(
                    where,
                    f'unknown workflow "{name}"',
                    did_you_mean(name, self.res.names(FOLDER, (".yaml", ".yml"))),
                )
            )
            return None
        if file in self.chain:
            cycle = " -> ".join([*self.names[self.chain.index(file) :], name])
            self.problems.append(Problem(where, f"workflow_call cycle: {cycle}"))
            return None
        compiled = self.compile_file(file, mv.args, (*self.chain, file))
        loop = compiled.files & set(self.chain)
        if loop:
            self.problems.append(Problem(where, f'workflow_call cycle through "{name}"'))
            return None
        if compiled.problems:
            self.problems += _forward(path, name, compiled.problems)
        callee = compiled.piece
        if callee is None:
            return None
        # Heights do not depend on who calls: checking every workflow as if it were the
        # root bounds the whole chain from the real root, and keeps compiles cacheable.
        if 1 + compiled.height > MAX_CALL_DEPTH:
            chain = " -> ".join([*self.names[-1:], *compiled.longest])
            self.problems.append(
                Problem(where, f"workflow_call depth exceeds the limit ({MAX_CALL_DEPTH}): {chain}")
            )
            return None
        if callee.subworkflow is None or not callee.subworkflow.callable:
            self.problems.append(
                Problem(
                    where,
                    f'workflow "{name}" is not callable',
                    "the called workflow needs subworkflow.callable: true",
                )
            )
            return None
        allowed = {"COMPLETE", "ABORT", *callee.subworkflow.returns}
        for rule in mv.rules:
            if rule.label not in allowed:
                self.problems.append(
                    Problem(
                        at(at(at(path, "rules"), rule.index), "condition"),
                        f'workflow_call step "{mv.name}" cannot route on unsupported child '
                        f'result "{rule.condition}"',
                        did_you_mean(rule.condition, allowed)
                        or "one of: "
                        + ", ".join(["COMPLETE", "ABORT", *callee.subworkflow.returns]),
                    )
                )
        if compiled.height + 1 > self.height:
            self.height = compiled.height + 1
            self.longest = (*self.names[-1:], *compiled.longest)
        self.files |= compiled.files
        return call_key(callee.name, mv.args), callee
