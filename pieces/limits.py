"""Bounds on what one piece or workflow may ask of validation and of a job.

Generous for real files (TAKT's largest builtin has 30 movements of at most 12 rules;
v0.60's largest workflow expands to 20 steps), small enough that any accepted file
validates in time linear in its size. A workflow is checked as written and again once
its step fragments are expanded.
"""

from __future__ import annotations

from pieces.problems import Problem

MAX_MOVEMENTS = 200
MAX_RULES = 2000


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else []


def _members(step: dict) -> list:
    parallel = step.get("parallel")
    if isinstance(parallel, dict):
        return [*_as_list(parallel.get("fixed")), *_as_list(parallel.get("pool"))]
    return _as_list(parallel)


def _rule_count(rules: object) -> int:
    if isinstance(rules, dict):  # a fragment caller's rule tree {self, parallel: {...}}
        children = rules.get("parallel")
        inner = children.values() if isinstance(children, dict) else []
        return len(_as_list(rules.get("self"))) + sum(len(_as_list(r)) for r in inner)
    return len(_as_list(rules))


def shape_problems(data: object) -> list[Problem]:
    """Refuse, before any detailed check, a file too big to be worth validating."""
    if not isinstance(data, dict):
        return []
    key = "movements" if "movements" in data else "steps"
    steps = data.get(key)
    if not isinstance(steps, list):
        return []
    if len(steps) > MAX_MOVEMENTS:
        return [Problem(key, f"too many {key}: {len(steps)} (at most {MAX_MOVEMENTS})")]
    members = [m for s in steps if isinstance(s, dict) for m in [s, *_members(s)]]
    if len(members) > MAX_MOVEMENTS * 4:
        return [Problem(key, f"too many {key} and members: {len(members)}")]
    rules = sum(_rule_count(m.get("rules")) for m in members if isinstance(m, dict))
    if rules > MAX_RULES:
        return [Problem(key, f"too many rules: {rules} (at most {MAX_RULES})")]
    return []
