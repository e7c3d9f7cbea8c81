"""``all(…)`` and ``any(…)`` on a parallel movement, over its sub-movements' outcomes.

An outcome is the condition a sub-movement's own rules matched (TAKT compares the raw
condition strings exactly). With one argument, ``all("X")`` needs every sub-movement
to have matched X and ``any("X")`` at least one. With several, ``all("A", "B")`` is
positional (sub-movement i matched argument i; a count mismatch makes the rule not
match) and ``any("A", "B")`` needs one sub-movement to have matched any of them. A
sub-movement with no outcome (it failed, or nothing matched) satisfies nothing.

The workflow dialect counts a failed sub-step as the label ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pieces.model import Movement, Rule

ERROR_LABEL = "error"


def rule_holds(rule: Rule, participants: Sequence[str], outcomes: Mapping[str, str | None]) -> bool:
    if rule.kind not in ("all", "any") or not participants or not rule.args:
        return False
    got = [outcomes.get(name) for name in participants]
    if len(rule.args) == 1:
        want = rule.args[0]
        if rule.kind == "all":
            return all(o is not None and o == want for o in got)
        return any(o is not None and o == want for o in got)
    if rule.kind == "all":
        if len(rule.args) != len(participants):
            return False
        return all(o is not None and o == want for o, want in zip(got, rule.args, strict=True))
    return any(o is not None and o in rule.args for o in got)


def first_aggregate(
    movement: Movement,
    outcomes: Mapping[str, str | None],
    participants: Sequence[str] | None = None,
) -> int:
    """The index of the first all()/any() rule the outcomes satisfy, or -1."""
    names = list(participants) if participants is not None else [s.name for s in movement.parallel]
    for rule in movement.rules:
        if rule_holds(rule, names, outcomes):
            return rule.index
    return -1


def aggregated_output(parts: Sequence[tuple[str, str]]) -> str:
    """The parent's output: ``## <sub>\\n<content>`` joined by horizontal rules."""
    return "\n\n---\n\n".join(f"## {name}\n{content}" for name, content in parts)


def uses_error_label(movement: Movement) -> bool:
    """Workflow dialect: a rule routes on failed sub-steps, so a failure is not an abort."""
    return any(ERROR_LABEL in r.args for r in movement.rules if r.kind in ("all", "any"))
