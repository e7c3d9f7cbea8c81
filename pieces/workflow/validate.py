"""Checks that need the whole workflow in view: names, routes, returns, aggregates,
dynamic parallel contracts, loop monitors and reachability. Each check reports and
carries on; all of them are linear in the number of steps and rules.
"""

from __future__ import annotations

import re
from collections import deque

from pieces.aggregate import ERROR_LABEL
from pieces.model import LoopMonitor, Movement, Rule
from pieces.parse import at
from pieces.problems import Problem, did_you_mean
from pieces.workflow.conditions import canonical, dynamic_target_label, parse_condition
from pieces.workflow.steps import Located

TERMINALS = ("COMPLETE", "ABORT")
_REPORT_VAR = re.compile(r"\{report:([^{}\n]+)\}")


class Checker:
    def __init__(
        self,
        steps: list[Located],
        initial: str | None,
        monitors: list[LoopMonitor],
        callable_: bool,
        returns: list[str],
        failed: set[str],
    ) -> None:
        self.steps = steps
        self.initial = initial
        self.monitors = monitors
        self.callable = callable_
        self.returns = returns
        self.failed = failed
        self.problems: list[Problem] = []
        self.top = {s.movement.name: s for s in steps if s.movement.name}
        self.subs = {m.movement.name: s.movement.name for s in steps for m in s.members}

    def error(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "error"))

    def warn(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "warning"))

    def run(self) -> list[Problem]:
        self.names()
        self.initial_step()
        for step in self.steps:
            if step.movement.name in self.failed:
                continue
            self.step(step)
            for member in step.members:
                self.member(step, member)
        self.loop_monitors()
        self.reachability()
        return self.problems

    def names(self) -> None:
        first: dict[str, str] = {}
        for step in self.steps:
            name = step.movement.name
            if not name:
                continue
            if name in TERMINALS:
                self.error(at(step.path, "name"), f'"{name}" is reserved for rule targets')
            elif name in first:
                self.error(
                    at(step.path, "name"),
                    f'duplicate step name "{name}"',
                    f"first defined at {first[name]}",
                )
            else:
                first[name] = step.path
            inner: dict[str, str] = {}
            for member in step.members:
                sub = member.movement.name
                if sub in inner:
                    self.error(
                        at(member.path, "name"),
                        f'parallel step "{name}" contains duplicate sub-step name "{sub}"',
                        f"first defined at {inner[sub]}",
                    )
                elif sub in TERMINALS:
                    self.error(at(member.path, "name"), f'"{sub}" is reserved for rule targets')
                inner.setdefault(sub, member.path)

    def initial_step(self) -> None:
        name = self.initial
        if name is None or name in self.top:
            return
        if name in self.subs:
            self.error(
                "initial_step",
                f'"{name}" is a parallel sub-step',
                f'start at its parent "{self.subs[name]}"',
            )
        else:
            self.error("initial_step", f'unknown step "{name}"', did_you_mean(name, self.top))

    def target(self, rule: Rule, path: str) -> None:
        where = at(path, "next")
        if rule.next is None:
            if rule.returns is None and not rule.requires_user_input:
                self.error(
                    path,
                    "a rule needs next (or return, in a callable workflow)",
                    "COMPLETE, ABORT or a step name",
                )
            return
        if rule.next in TERMINALS or rule.next in self.top:
            return
        if rule.next in self.subs:
            self.error(
                where,
                f'"{rule.next}" is a parallel sub-step',
                f'route to its parent "{self.subs[rule.next]}"',
            )
        else:
            self.error(
                where,
                f'unknown step "{rule.next}"',
                did_you_mean(rule.next, [*self.top, *TERMINALS]),
            )

    def step(self, step: Located) -> None:
        mv = step.movement
        rules_path = at(step.path, "rules")
        if mv.kind == "parallel" and mv.parallel and not mv.rules:
            self.error(rules_path, "a parallel step needs rules", 'e.g. condition: all("approved")')
        elif not mv.rules and mv.kind != "parallel":
            self.warn(
                rules_path,
                "no rules: the job aborts after this step (no rule can match)",
                "add a rule such as {condition: done, next: COMPLETE}",
            )
        for rule in mv.rules:
            path = at(rules_path, rule.index)
            self.target(rule, path)
            if rule.returns is not None:
                if not self.callable:
                    self.error(
                        at(path, "return"),
                        "return is only allowed in a callable workflow",
                        "set subworkflow.callable: true",
                    )
                elif rule.returns not in self.returns:
                    self.error(
                        at(path, "return"),
                        f'returns undeclared value "{rule.returns}"',
                        did_you_mean(rule.returns, self.returns)
                        or "declare it in subworkflow.returns",
                    )
        if mv.kind == "parallel":
            self.aggregates(step)

    def member(self, parent: Located, member: Located) -> None:
        for rule in member.movement.rules:
            if rule.next is not None:
                self.warn(
                    at(at(at(member.path, "rules"), rule.index), "next"),
                    "ignored on a parallel sub-step",
                    f'the rules of "{parent.movement.name}" decide where to go',
                )

    def aggregates(self, step: Located) -> None:
        mv = step.movement
        # What each member can match, computed once per step: checking a rule is then a
        # set lookup per argument, whatever the number of rules.
        matched = [[canonical(r.condition) for r in s.rules] for s in mv.parallel]
        labels = [{r.label for r in m.movement.rules if r.label is not None} for m in step.members]
        every = [c for conditions in matched for c in conditions]
        for rule in mv.rules:
            if rule.kind not in ("all", "any"):
                continue
            where = at(at(at(step.path, "rules"), rule.index), "condition")
            if mv.dynamic is not None:
                self.dynamic_aggregate(step, rule, where, labels)
            else:
                self.static_aggregate(mv, rule, where, matched, every)

    def static_aggregate(
        self, mv: Movement, rule: Rule, where: str, matched: list[list[str]], every: list[str]
    ) -> None:
        count = len(mv.parallel)
        if rule.kind == "all" and len(rule.args) not in (1, count):
            self.warn(
                where,
                f"all() has {len(rule.args)} arguments but the step has {count} "
                "sub-steps: this rule can never match",
                "give one argument, or exactly one per sub-step (matched by position)",
            )
            return
        positional = rule.kind == "all" and len(rule.args) > 1
        everywhere = set(every)
        for i, arg in enumerate(rule.args):
            if arg == ERROR_LABEL:
                continue
            subs = [mv.parallel[i]] if positional else mv.parallel
            outcomes = matched[i] if positional else every
            if any(s.kind == "workflow_call" for s in subs):
                continue  # a callee's results are checked against the callee
            if subs and arg not in (set(outcomes) if positional else everywhere):
                who = f'"{subs[0].name}"' if len(subs) == 1 else "any sub-step"
                self.warn(where, f'{who} has no rule "{arg}"', did_you_mean(arg, outcomes))

    def dynamic_aggregate(
        self, step: Located, rule: Rule, where: str, labels: list[set[str]]
    ) -> None:
        label = dynamic_target_label(parse_condition(rule.condition)) if rule.when is None else None
        if label is None:
            self.error(where, "a dynamic parallel aggregate names exactly one bare result label")
            return
        if label == ERROR_LABEL:
            return
        for member, known in zip(step.members, labels, strict=True):
            if label not in known and member.movement.name not in self.failed:
                self.error(
                    at(member.path, "rules"),
                    f'dynamic parallel step "{step.movement.name}" needs sub-step '
                    f'"{member.movement.name}" to define the result label "{label}"',
                )

    def loop_monitors(self) -> None:
        for i, lm in enumerate(self.monitors):
            path = f"loop_monitors[{i}]"
            for key, names in (("cycle", lm.cycle), ("ignore_steps", lm.ignore_steps)):
                for j, name in enumerate(names):
                    if name not in self.top:
                        self.error(
                            at(at(path, key), j),
                            f'unknown step "{name}"',
                            did_you_mean(name, self.top),
                        )
            if lm.judge is not None:
                for rule in lm.judge.rules:
                    self.target(rule, at(at(at(path, "judge"), "rules"), rule.index))

    def reachability(self) -> None:
        start = self.initial or (self.steps[0].movement.name if self.steps else None)
        if start not in self.top:
            return
        graph: dict[str, set[str]] = {name: set() for name in self.top}
        for name, step in self.top.items():
            graph[name].update(r.next for r in step.movement.rules if r.next)
            if any(r.returns for r in step.movement.rules):
                graph[name].add("COMPLETE")
        for lm in self.monitors:
            targets = {r.next for r in lm.judge.rules if r.next} if lm.judge else set()
            for name in lm.cycle:
                if name in graph:
                    graph[name].update(targets)
        seen, queue = {start}, deque([start])
        while queue:
            for nxt in graph.get(queue.popleft(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        for name, step in self.top.items():
            if name not in seen:
                self.warn(step.path, f'step "{name}" is unreachable from "{start}"')
        if "COMPLETE" not in seen and not self.failed:
            self.warn("steps", f'no route from "{start}" reaches COMPLETE')


def unwritten_reports(steps: list[Located], monitors: list[LoopMonitor]) -> list[Problem]:
    """``{report:FILE}`` naming a report no step of this workflow writes.

    Only for workflows that are not callable: a called workflow may read its caller's.
    """
    located = [x for s in steps for x in (s, *s.members)]
    written = {c.name for x in located for c in x.movement.output_contracts}
    judges = [(f"loop_monitors[{i}].judge", lm.judge) for i, lm in enumerate(monitors)]
    problems = []
    for path, mv in [*((x.path, x.movement) for x in located), *judges]:
        if mv is None or not mv.instruction:
            continue
        for name in dict.fromkeys(_REPORT_VAR.findall(mv.instruction)):
            if name.strip() not in written:
                problems.append(
                    Problem(
                        at(path, "instruction"),
                        f"{{report:{name}}} names a report no step writes",
                        did_you_mean(name.strip(), written),
                        "warning",
                    )
                )
    return problems
