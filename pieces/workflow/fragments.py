"""Step fragments: ``uses: <name>`` with ``with:`` bindings (TAKT v0.60, SEMANTICS.md §7.6).

A step ``{name: review, uses: reviewers, with: {...}, rules: [...]}`` is replaced by
``steps/reviewers.yaml`` with its ``$param`` references bound, deep-merged under the
step's own keys (the step wins; ``uses``, ``with`` and ``rules`` are consumed). A
fragment never defines rules: the step that uses it does, as a list, or, when the
fragment is a parallel step, as a tree ``{self: [...], parallel: {<member>: [...]}}``.
``name`` defaults to the last segment of ``uses``. Fragments may use fragments (at most
64 deep and 512 expansions per workflow; a cycle is an error) and may not be
``kind: system``.

Parameters are bound by ``pieces.workflow.binding``. Expansion works on the YAML data;
problems are reported at the step that uses the fragment, and ``PathMap`` remembers
which keys the fragment supplied.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pieces.parse import at
from pieces.problems import Problem
from pieces.workflow.binding import Binder, FragmentError, Param
from pieces.workflow.paths import PathMap
from pieces.workflow.resources import ResourceError, Resources, safe_name

MAX_FRAGMENT_DEPTH = 64
MAX_FRAGMENT_EXPANSIONS = 512
FAILED = "__fragment_failed__"  # marks a step whose fragment could not be expanded


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` deep-merged over ``base``: mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        out[key] = merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


class Expander:
    """Expands the steps of one workflow file."""

    def __init__(
        self,
        res: Resources,
        pathmap: PathMap,
        outer: dict[str, Param],
    ) -> None:
        self.res = res
        self.pathmap = pathmap
        self.outer = outer
        self.expansions = 0

    # --- entry point ------------------------------------------------------------------

    def steps(self, steps: list[Any], problems: list[Problem]) -> list[Any]:
        out = []
        for i, step in enumerate(steps):
            path = f"steps[{i}]"
            try:
                out.append(self.expand(step, path, [], concrete=True, child=False))
            except FragmentError as exc:
                problems.append(Problem(exc.path, str(exc)))
                name = step.get("name") if isinstance(step, dict) else None
                uses = step.get("uses") if isinstance(step, dict) else None
                if not isinstance(name, str) and isinstance(uses, str):
                    name = uses.split("/")[-1]
                out.append({"name": name if isinstance(name, str) else "", FAILED: True})
        return out

    # --- one step ---------------------------------------------------------------------

    def expand(
        self, step: Any, path: str, stack: list[tuple[str, Path]], *, concrete: bool, child: bool
    ) -> Any:
        if not isinstance(step, dict):
            return step
        step = self._alias(step, path)
        uses = step.get("uses")
        if uses is None:
            return self._children(step, path, stack) if concrete else dict(step)
        if not isinstance(uses, str) or not uses.strip():
            raise FragmentError(at(path, "uses"), "uses must name a step fragment")
        if len(stack) >= MAX_FRAGMENT_DEPTH:
            raise FragmentError(
                at(path, "uses"),
                f'step fragment "{uses}" nests deeper than {MAX_FRAGMENT_DEPTH} fragments',
            )
        file = self._find(uses, path)
        if self.expansions >= MAX_FRAGMENT_EXPANSIONS:
            raise FragmentError(
                at(path, "uses"),
                f"more than {MAX_FRAGMENT_EXPANSIONS} step fragment expansions in one workflow",
            )
        self.expansions += 1
        if any(seen == file for _, seen in stack):
            chain = " -> ".join([*(ref for ref, _ in stack), uses])
            raise FragmentError(at(path, "uses"), f"circular step fragment reference: {chain}")
        note = f'from step fragment "{uses}" ({self._shown(file)})'
        fragment = self._read(file, uses, path)
        self._no_rules(fragment, uses, path, "")
        bound = Binder(self.outer).bind(fragment, step, path, uses)
        inner = [*stack, (uses, file)]
        base = self.expand(bound, path, inner, concrete=False, child=child)
        if not isinstance(base, dict):
            raise FragmentError(path, f'step fragment "{uses}" must resolve to one step')
        inline = {k: v for k, v in step.items() if k not in ("uses", "with", "rules")}
        for key in base:
            if key not in inline:
                self.pathmap.origin(at(path, key), note)
        merged = merge(base, inline)
        if not concrete:
            return merged
        merged = self._children(merged, path, inner if "parallel" not in inline else stack)
        if merged.get("name") is None:
            merged["name"] = uses.split("/")[-1]
        if not stack:
            merged = self._caller_rules(merged, step.get("rules"), path, uses, child)
        kind, mode = merged.get("kind"), merged.get("mode")
        if kind == "system" or (kind is None and mode == "system"):
            raise FragmentError(
                path, f'step fragment "{uses}" resolves to unsupported kind "system"'
            )
        return merged

    def _alias(self, step: dict, path: str) -> dict:
        """TAKT's deprecated ``review_completion`` is ``completion_retry``."""
        if "review_completion" not in step:
            return step
        if "completion_retry" in step:
            raise FragmentError(
                at(path, "completion_retry"),
                'a step cannot give both "completion_retry" and its old name "review_completion"',
            )
        out = {k: v for k, v in step.items() if k != "review_completion"}
        out["completion_retry"] = step["review_completion"]
        return out

    def _children(self, step: dict, path: str, stack: list[tuple[str, Path]]) -> dict:
        parallel = step.get("parallel")
        where = at(path, "parallel")
        if isinstance(parallel, list):
            members = [
                self.expand(sub, at(where, i), stack, concrete=True, child=True)
                for i, sub in enumerate(parallel)
            ]
            return {**step, "parallel": members}
        if isinstance(parallel, dict):
            out = dict(parallel)
            for branch in ("fixed", "pool"):
                if isinstance(parallel.get(branch), list):
                    out[branch] = [
                        self.expand(sub, at(at(where, branch), i), stack, concrete=True, child=True)
                        for i, sub in enumerate(parallel[branch])
                    ]
            return {**step, "parallel": out}
        return dict(step)

    def _find(self, uses: str, path: str) -> Path:
        if not safe_name(uses):
            raise FragmentError(
                at(path, "uses"),
                f'step fragment "{uses}" is not a name: legato finds fragments by name, '
                "not by path or @owner/repo",
            )
        try:
            found = self.res.find("steps", uses, (".yaml", ".yml"))
        except ResourceError as exc:
            raise FragmentError(at(path, "uses"), f'step fragment "{uses}": {exc}') from None
        if found is None:
            raise FragmentError(
                at(path, "uses"),
                f'step fragment "{uses}" was not found (searched: {self.res.searched("steps")})',
            )
        return found

    def _shown(self, file: Path) -> str:
        for root in self.res.roots:
            try:
                return str(file.relative_to(root.resolve()))
            except ValueError:
                continue
        return file.name

    def _read(self, file: Path, uses: str, path: str) -> dict:
        try:
            data = self.res.cache.yaml(file)
        except ResourceError as exc:
            raise FragmentError(at(path, "uses"), f'step fragment "{uses}": {exc}') from None
        if not isinstance(data, dict):
            raise FragmentError(
                at(path, "uses"), f'step fragment "{uses}" must contain one step (a mapping)'
            )
        return data

    def _no_rules(self, fragment: dict, uses: str, path: str, inner: str) -> None:
        if "rules" in fragment:
            raise FragmentError(
                at(path, "uses"),
                f'step fragment "{uses}" must not define "{at(inner, "rules")}"; '
                "define rules on the step that uses it",
            )
        parallel = fragment.get("parallel")
        members: list[tuple[str, Any]] = []
        if isinstance(parallel, list):
            members = [(f"parallel[{i}]", m) for i, m in enumerate(parallel)]
        elif isinstance(parallel, dict):
            for branch in ("fixed", "pool"):
                if isinstance(parallel.get(branch), list):
                    members += [
                        (f"parallel.{branch}[{i}]", m) for i, m in enumerate(parallel[branch])
                    ]
        for where, member in members:
            if isinstance(member, dict):
                self._no_rules(member, uses, path, at(inner, where) if inner else where)

    # --- caller rules -----------------------------------------------------------------

    def _caller_rules(self, step: dict, spec: Any, path: str, uses: str, child: bool) -> dict:
        where = at(path, "rules")

        def rule_list(value: Any, shown: str) -> list:
            if not isinstance(value, list) or not value:
                raise FragmentError(
                    shown, f'a step using fragment "{uses}" must define a non-empty rules list'
                )
            return value

        parallel = step.get("parallel")
        if child or not isinstance(parallel, list | dict):
            return {**step, "rules": rule_list(spec, where)}
        if not isinstance(spec, dict):
            raise FragmentError(
                where,
                f'step fragment "{uses}" is a parallel step, so rules must be a tree '
                "{self: [...], parallel: {<member>: [...]}}",
            )
        own, tree = spec.get("self"), spec.get("parallel")
        if not isinstance(tree, dict):
            raise FragmentError(where, "invalid rule tree: expected self and parallel")
        for i, _ in enumerate(rule_list(own, at(where, "self"))):
            self.pathmap.alias(at(where, i), at(at(where, "self"), i))
        named: set[str] = set()

        def with_rules(member: Any, member_path: str) -> dict:
            if not isinstance(member, dict):
                raise FragmentError(member_path, "a parallel member must be a mapping")
            name = member.get("name")
            if not isinstance(name, str) or not name.strip():
                raise FragmentError(
                    at(member_path, "name"), "a parallel member needs a name for rule-tree matching"
                )
            if name in named:
                raise FragmentError(member_path, f'duplicate parallel member name "{name}"')
            named.add(name)
            shown = at(at(where, "parallel"), name)
            if name not in tree:
                raise FragmentError(
                    at(where, "parallel"), f'the rule tree is missing member "{name}"'
                )
            rules = rule_list(tree[name], shown)
            self.pathmap.alias(at(member_path, "rules"), shown)
            return {**member, "rules": rules}

        ppath = at(path, "parallel")
        if isinstance(parallel, list):
            members: Any = [with_rules(m, at(ppath, i)) for i, m in enumerate(parallel)]
        else:
            members = dict(parallel)
            for branch in ("fixed", "pool"):
                if isinstance(parallel.get(branch), list):
                    members[branch] = [
                        with_rules(m, at(at(ppath, branch), i))
                        for i, m in enumerate(parallel[branch])
                    ]
        unknown = [name for name in tree if name not in named]
        if unknown:
            raise FragmentError(
                at(where, "parallel"), f'the rule tree names unknown member "{unknown[0]}"'
            )
        return {**step, "parallel": members, "rules": own}

    # --- parameters -------------------------------------------------------------------
