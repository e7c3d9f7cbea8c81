"""A step's ``rules`` in the workflow dialect: read, parsed and checked for their place.

Where a rule sits decides what it may say (SEMANTICS.md §3.2): aggregates only on a
parallel parent, no aggregate and no ``return`` on a parallel member, only
``COMPLETE``/``ABORT``/a callee's return label on a ``workflow_call`` step, and never
companion state. Rules sharing a label must share an appendix. A rule is strict: an
unknown key is an error, as in TAKT.
"""

from __future__ import annotations

from typing import Literal

from pieces.conditions import ConditionSyntaxError
from pieces.model import Rule
from pieces.parse import Walker, at
from pieces.workflow.conditions import (
    Condition,
    aggregates_of,
    parse_condition,
    references_companion,
    rule_fields,
    semantic_label,
    substep_condition,
)
from pieces.workflow.features import strict_keys
from pieces.workflow.keys import RULE_KEYS

Place = Literal["step", "parallel", "member", "call", "call_member", "system", "judge"]
TERMINALS = ("COMPLETE", "ABORT")


def parse_rules(w: Walker, m: dict, path: str, place: Place) -> list[Rule]:
    """The rules of one step (or a loop judge), every problem reported."""
    rules: list[Rule] = []
    appendix: dict[str, tuple[str | None, str]] = {}
    for rpath, item in w.items(m, "rules", path):
        rm = w.mapping(item, rpath)
        if rm is None:
            continue
        keys = frozenset({"condition", "next"}) if place == "judge" else RULE_KEYS
        if place == "judge":
            w.unknown_keys(rm, keys, rpath)
        else:
            strict_keys(w, rm, keys, rpath)
        raw = w.string(rm, "condition", rpath, required=True)
        nxt = w.string(rm, "next", rpath, required=place == "judge")
        returns = w.string(rm, "return", rpath) if place != "judge" else None
        text = w.string(rm, "appendix", rpath)
        cond = _condition(w, raw, at(rpath, "condition"), place) if raw is not None else None
        if nxt is not None and returns is not None:
            w.error(rpath, "a rule cannot give both next and return")
        if returns is not None and place in ("member", "call_member"):
            w.error(at(rpath, "return"), "parallel sub-step rules do not allow return")
        if returns is not None and returns in TERMINALS:
            w.error(at(rpath, "return"), f'cannot return the reserved result "{returns}"')
        kind, label, args, when = ("label", raw, [], None)
        if cond is not None:
            kind, label, args, when = rule_fields(cond)
            name = semantic_label(cond)
            if name is not None:
                if name in appendix and appendix[name][0] != text:
                    w.error(
                        at(rpath, "appendix"),
                        f'rules sharing the label "{name}" must use the same appendix',
                        f"first given at {appendix[name][1]}",
                    )
                appendix.setdefault(name, (text, rpath))
        rules.append(
            Rule(
                index=len(rules),
                condition=raw or "",
                kind=kind,  # type: ignore[arg-type]
                label=label,
                args=args,
                when=when,
                next=nxt,
                returns=returns,
                appendix=text,
                requires_user_input=bool(w.boolean(rm, "requires_user_input", rpath)),
                interactive_only=bool(w.boolean(rm, "interactive_only", rpath)),
            )
        )
    return rules


def _condition(w: Walker, raw: str, where: str, place: Place) -> Condition | None:
    try:
        cond = parse_condition(raw)
    except ConditionSyntaxError as exc:
        w.error(where, f"invalid condition: {exc}")
        return None
    if references_companion(cond):
        w.error(where, "transition rules cannot read advisory companion state")
        return None
    if place in ("call", "call_member"):
        if cond.kind != "semantic":
            w.error(
                where,
                "workflow_call rules only allow COMPLETE, ABORT or a label the callee returns",
            )
            return None
    elif aggregates_of(cond) and place != "parallel":
        if place == "member":
            message = "parallel sub-step rules do not allow aggregate conditions"
        else:
            message = "aggregate conditions are only allowed on parallel steps with sub-steps"
        w.error(where, message, "all()/any() join the outcomes of a parallel step's members")
        return None
    if place == "member" and not substep_condition(cond):
        w.error(where, "parallel sub-step rules allow a label, when(...) or label && when(...)")
        return None
    return cond


def conditions_of(rules: list[Rule]) -> list[tuple[Rule, Condition]]:
    out = []
    for rule in rules:
        try:
            out.append((rule, parse_condition(rule.condition)))
        except ConditionSyntaxError:
            continue
    return out
