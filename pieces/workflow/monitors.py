"""``loop_monitors`` in a workflow: a cycle of steps, steps the count ignores, a judge.

As in TAKT v0.60: ``cycle`` names at least two steps, ``ignore_steps`` at least one
step outside the cycle, ``threshold`` defaults to 3, and the judge (persona,
instruction, rules with ``next``) runs in a fresh conversation. Judges take no
provider settings and no ``session_key``; their rules cannot aggregate.
"""

from __future__ import annotations

from typing import Any

from pieces.model import LoopMonitor, Movement
from pieces.parse import Walker, at
from pieces.workflow.facets import WorkflowFacets
from pieces.workflow.keys import (
    JUDGE_KEYS,
    JUDGE_REMOVED,
    LOOP_MONITOR_KEYS,
    RUNTIME_HINT,
    RUNTIME_MESSAGE,
)
from pieces.workflow.rules import parse_rules


def parse_monitors(w: Walker, value: Any, facets: WorkflowFacets) -> list[LoopMonitor]:
    out: list[LoopMonitor] = []
    if value is None:
        return out
    for path, item in w.items({"loop_monitors": value}, "loop_monitors", ""):
        m = w.mapping(item, path)
        if m is None:
            continue
        w.unknown_keys(m, LOOP_MONITOR_KEYS, path)
        cycle = w.strings(m, "cycle", path)
        if "cycle" not in m:
            w.error(at(path, "cycle"), "missing required key")
        elif len(cycle) < 2:
            w.error(at(path, "cycle"), "must name at least two steps")
        ignore = w.strings(m, "ignore_steps", path)
        if "ignore_steps" in m and not ignore:
            w.error(at(path, "ignore_steps"), "must name at least one step")
        for i, name in enumerate(ignore):
            if name in cycle:
                w.error(
                    at(at(path, "ignore_steps"), i),
                    f'ignored step "{name}" cannot also be part of the monitored cycle',
                )
        threshold = w.integer(m, "threshold", path)
        out.append(
            LoopMonitor(
                cycle=cycle,
                threshold=threshold or 3,
                ignore_steps=ignore,
                judge=_judge(w, m.get("judge"), at(path, "judge"), facets),
            )
        )
    return out


def _judge(w: Walker, value: Any, path: str, facets: WorkflowFacets) -> Movement | None:
    if value is None:
        w.error(path, "missing required key", "a loop monitor needs a judge with rules")
        return None
    m = w.mapping(value, path)
    if m is None:
        return None
    for key in m:
        if key in JUDGE_REMOVED:
            w.error(at(path, str(key)), RUNTIME_MESSAGE, RUNTIME_HINT)
        elif key == "session_key":
            w.error(at(path, key), "loop judges always run in a fresh conversation")
        elif key == "instruction_template":
            w.error(at(path, key), "removed in TAKT v0.60", "use instruction")
    w.unknown_keys(
        {
            k: v
            for k, v in m.items()
            if k not in (*JUDGE_REMOVED, "session_key", "instruction_template")
        },
        JUDGE_KEYS,
        path,
    )
    rules = parse_rules(w, m, path, "judge")
    if not rules:
        w.error(at(path, "rules"), "a loop judge needs at least one rule")
    persona, persona_file = facets.resolve_with_origin("personas", w.ref(m, "persona", path))
    return Movement(
        name="loop-judge",
        persona=persona,
        persona_file=persona_file,
        instruction=facets.resolve("instructions", w.ref(m, "instruction", path)) or "",
        edit=False,
        rules=rules,
        tier=w.string(m, "tier", path),
    )
