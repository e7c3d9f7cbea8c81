"""Semantic checks on a raw piece: names, routes, conditions, loop monitors, reachability.

Type problems are found by ``parse.py`` and facet problems by ``facets.py``; this module
adds what needs the whole piece in view. Each check reports and carries on.
"""

from __future__ import annotations

import re
from collections import deque

from pieces.conditions import ConditionSyntaxError, parse_piece_condition
from pieces.model import Piece
from pieces.parse import at
from pieces.problems import Problem, closest, did_you_mean
from pieces.schema import PERMISSION_MODES, TERMINALS, RawMovement, RawPiece, RawRule

_TIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_REPORT_VAR = re.compile(r"\{report:([^{}\n]+)\}")


class _Checker:
    def __init__(self, raw: RawPiece) -> None:
        self.raw = raw
        self.problems: list[Problem] = []
        self.top = {mv.name: mv for mv in raw.movements if mv.name}
        self.subs = {
            sub.name: mv.name for mv in raw.movements for sub in mv.parallel if sub.name and mv.name
        }

    def error(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "error"))

    def warn(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "warning"))

    def run(self) -> list[Problem]:
        self.names()
        self.initial()
        for mv in self.raw.movements:
            self.movement(mv, parent=None)
            for sub in mv.parallel:
                self.movement(sub, parent=mv)
        self.loop_monitors()
        self.reachability()
        return self.problems

    def names(self) -> None:
        first: dict[str, str] = {}
        for mv in [m for top in self.raw.movements for m in (top, *top.parallel)]:
            if not mv.name:
                continue
            where = at(mv.path, "name")
            if mv.name in TERMINALS:
                self.error(where, f'"{mv.name}" is reserved for rule targets')
            elif mv.name in first:
                self.error(
                    where,
                    f'duplicate movement name "{mv.name}"',
                    f"first defined at {first[mv.name]}",
                )
            else:
                first[mv.name] = mv.path

    def initial(self) -> None:
        name = self.raw.initial_movement
        if name is None or name in self.top:
            return
        if name in self.subs:
            self.error(
                "initial_movement",
                f'"{name}" is a parallel sub-movement',
                f'start at its parent "{self.subs[name]}"',
            )
        else:
            self.error(
                "initial_movement",
                f'unknown movement "{name}"',
                did_you_mean(name, self.top),
            )

    def target(self, rule: RawRule) -> None:
        """Check a top-level rule's ``next``."""
        where = at(rule.path, "next")
        if rule.next is None and rule.requires_user_input:
            return
        if rule.next is None:
            self.error(where, "missing required key", "COMPLETE, ABORT or a movement name")
        elif rule.next in TERMINALS or rule.next in self.top:
            return
        elif rule.next in self.subs:
            self.error(
                where,
                f'"{rule.next}" is a parallel sub-movement',
                f'route to its parent "{self.subs[rule.next]}"',
            )
        else:
            hint = did_you_mean(rule.next, [*self.top, *TERMINALS])
            self.error(where, f'unknown movement "{rule.next}"', hint)

    def movement(self, mv: RawMovement, parent: RawMovement | None) -> None:
        if mv.required_permission_mode is not None and (
            mv.required_permission_mode not in PERMISSION_MODES
        ):
            self.error(
                at(mv.path, "required_permission_mode"),
                f'unknown permission mode "{mv.required_permission_mode}"',
                did_you_mean(mv.required_permission_mode, PERMISSION_MODES)
                or "one of readonly, edit, full",
            )
        if mv.tier is not None and not _TIER.match(mv.tier):
            self.error(
                at(mv.path, "tier"),
                f'invalid tier name "{mv.tier}"',
                "letters, digits, '_' and '-' only",
            )
        if mv.instruction is not None and mv.instruction_template is not None:
            self.warn(
                at(mv.path, "instruction_template"),
                "ignored because instruction is also given",
            )
        if mv.team_leader is not None and parent is not None:
            self.error(at(mv.path, "team_leader"), "not allowed on a parallel sub-movement")
        if mv.is_parallel and parent is None and not mv.rules and mv.parallel:
            self.error(
                at(mv.path, "rules"),
                "a parallel movement needs rules",
                'e.g. condition: all("approved")',
            )
        elif not mv.rules and parent is None and not mv.is_parallel:
            self.warn(
                at(mv.path, "rules"),
                "no rules: the job aborts after this movement (no rule can match)",
                "add a rule such as {condition: Done, next: COMPLETE}",
            )
        for rule in mv.rules:
            self.rule(mv, rule, parent)

    def rule(self, mv: RawMovement, rule: RawRule, parent: RawMovement | None) -> None:
        if parent is None:
            self.target(rule)
        elif rule.next is not None:
            self.warn(
                at(rule.path, "next"),
                "ignored on a parallel sub-movement",
                f'the rules of "{parent.name}" decide where to go',
            )
        if rule.condition is None:
            return
        where = at(rule.path, "condition")
        try:
            cond = parse_piece_condition(rule.condition)
        except ConditionSyntaxError as exc:
            self.error(where, f"invalid condition: {exc}")
            return
        if cond.kind in ("all", "any"):
            if not mv.is_parallel or parent is not None:
                self.error(
                    where,
                    f"{cond.kind}() is only allowed on a parallel movement",
                    "aggregate conditions join the outcomes of parallel sub-movements",
                )
                return
            self.aggregate(mv, cond.kind, cond.args, where)
        elif mv.is_parallel and parent is None:
            self.warn(
                where,
                "a parallel movement has no output of its own",
                "use all() or any() over its sub-movements' outcomes",
            )

    def aggregate(self, mv: RawMovement, kind: str, args: list[str], where: str) -> None:
        count = len(mv.parallel)
        if not count:
            return
        if kind == "all" and len(args) not in (1, count):
            self.warn(
                where,
                f"all() has {len(args)} arguments but the movement has {count} sub-movements: "
                "this rule can never match",
                "give one argument, or exactly one per sub-movement (matched by position)",
            )
            return
        positional = kind == "all" and len(args) > 1
        for i, arg in enumerate(args):
            subs = [mv.parallel[i]] if positional else mv.parallel
            outcomes = [r.condition for s in subs for r in s.rules if r.condition]
            if subs and arg not in outcomes:
                who = f'"{subs[0].name}"' if len(subs) == 1 else "any sub-movement"
                hint = did_you_mean(arg, outcomes)
                self.warn(where, f'{who} has no rule "{arg}"', hint)

    def loop_monitors(self) -> None:
        for lm in self.raw.loop_monitors:
            for i, name in enumerate(lm.cycle):
                if name not in self.top:
                    self.error(
                        at(at(lm.path, "cycle"), i),
                        f'unknown movement "{name}"',
                        did_you_mean(name, self.top),
                    )
            if lm.judge is not None:
                for rule in lm.judge.rules:
                    self.target(rule)
                    if rule.condition is not None:
                        self._judge_condition(rule)

    def _judge_condition(self, rule: RawRule) -> None:
        try:
            cond = parse_piece_condition(rule.condition or "")
        except ConditionSyntaxError as exc:
            self.error(at(rule.path, "condition"), f"invalid condition: {exc}")
            return
        if cond.kind in ("all", "any"):
            self.error(
                at(rule.path, "condition"), f"{cond.kind}() is only allowed on a parallel movement"
            )

    def edges(self) -> dict[str, set[str]]:
        graph: dict[str, set[str]] = {name: set() for name in self.top}
        for name, mv in self.top.items():
            graph[name].update(r.next for r in mv.rules if r.next)
        for lm in self.raw.loop_monitors:
            targets = {r.next for r in lm.judge.rules if r.next} if lm.judge else {"ABORT"}
            for name in lm.cycle:
                if name in graph:
                    graph[name].update(targets)
        return graph

    def reachability(self) -> None:
        start = self.raw.initial_movement or (
            self.raw.movements[0].name if self.raw.movements else None
        )
        if start not in self.top:
            return
        graph = self.edges()
        seen, queue = {start}, deque([start])
        while queue:
            for nxt in graph.get(queue.popleft(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        for name, mv in self.top.items():
            if name not in seen:
                self.warn(mv.path, f'movement "{name}" is unreachable from "{start}"')
        if "COMPLETE" not in seen:
            self.warn("movements", f'no route from "{start}" reaches COMPLETE')


def check_raw(raw: RawPiece) -> list[Problem]:
    return _Checker(raw).run()


def check_resolved(piece: Piece, paths: dict[str, str]) -> list[Problem]:
    """Warnings that need facet texts: ``{report:FILE}`` naming a report nobody writes."""
    written = {c.name for mv in piece.all_movements() for c in mv.output_contracts}
    written |= {c.label for mv in piece.all_movements() for c in mv.output_contracts if c.label}
    problems = []
    judges = [(f"loop_monitors[{i}].judge", lm.judge) for i, lm in enumerate(piece.loop_monitors)]
    movements = [(paths.get(mv.name, mv.name), mv) for mv in piece.all_movements()]
    for path, mv in [*movements, *judges]:
        if mv is None or not mv.instruction:
            continue
        for name in dict.fromkeys(_REPORT_VAR.findall(mv.instruction)):
            if name.strip() not in written:
                suggestion = closest(name.strip(), written)
                problems.append(
                    Problem(
                        at(path, "instruction"),
                        f"{{report:{name}}} names a report no movement writes",
                        f'did you mean "{suggestion}"?' if suggestion else None,
                        "warning",
                    )
                )
    return problems
