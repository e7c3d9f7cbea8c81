"""Step fragments: ``uses: <name>`` with ``with:`` bindings (TAKT v0.60, SEMANTICS.md §7.6).

A step ``{name: review, uses: reviewers, with: {...}, rules: [...]}`` is replaced by
``steps/reviewers.yaml`` with its ``$param`` references bound, deep-merged under the
step's own keys (the step wins; ``uses``, ``with`` and ``rules`` are consumed). A
fragment never defines rules: the step that uses it does, as a list, or, when the
fragment is a parallel step, as a tree ``{self: [...], parallel: {<member>: [...]}}``.
``name`` defaults to the last segment of ``uses``. Fragments may use fragments (at most
64 deep and 512 expansions per workflow; a cycle is an error) and may not be
``kind: system``.

A binding is a literal (a facet name, a list of them, a workflow or pool name) or
``{$param: outer}``, which forwards a parameter of the enclosing callable workflow; it
stays a reference here and is bound when the workflow is called (``pieces.workflow.params``).
Expansion works on the YAML data; problems are reported at the step that uses the
fragment, and ``PathMap`` remembers which keys the fragment supplied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pieces.parse import at, describe
from pieces.problems import Problem
from pieces.workflow.keys import FRAGMENT_PARAM_TYPES, PARAM_KINDS
from pieces.workflow.paths import PathMap
from pieces.workflow.resources import ResourceError, Resources, safe_name

MAX_FRAGMENT_DEPTH = 64
MAX_FRAGMENT_EXPANSIONS = 512
FAILED = "__fragment_failed__"  # marks a step whose fragment could not be expanded
_FACET_TYPES = ("facet_ref", "facet_ref[]")


class FragmentError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Param:
    type: str
    kind: str | None = None  # facet kind, for facet_ref and facet_ref[]


@dataclass(frozen=True)
class _Bound:
    """A binding forwarded to a nested fragment's ``with`` (opaque to merging)."""

    param: Param
    value: Any


@dataclass(frozen=True)
class _Contract:
    types: tuple[str, ...]
    kinds: tuple[str, ...] | None = None


_POLICY = _Contract(_FACET_TYPES, ("policy",))
_KNOWLEDGE = _Contract(_FACET_TYPES, ("knowledge",))
_INSTRUCTION = _Contract(_FACET_TYPES, ("instruction",))
_ONE_INSTRUCTION = _Contract(("facet_ref",), ("instruction",))
_PERSONA = _Contract(("facet_ref",), ("persona",))
_REPORT_FORMAT = _Contract(("facet_ref",), ("report_format",))
_CALL = _Contract(("workflow_ref",))
_CALL_ARG = _Contract(FRAGMENT_PARAM_TYPES, PARAM_KINDS)


def is_param_ref(value: Any) -> bool:
    return isinstance(value, dict) and "$param" in value


def param_name(value: dict, path: str) -> str:
    name = value.get("$param")
    if len(value) != 1 or not isinstance(name, str) or not name:
        raise FragmentError(path, "invalid parameter reference (expected {$param: <name>})")
    return name


def has_param_refs(value: Any) -> bool:
    if isinstance(value, dict):
        return "$param" in value or any(has_param_refs(v) for v in value.values())
    if isinstance(value, list):
        return any(has_param_refs(v) for v in value)
    return False


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` deep-merged over ``base``: mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        out[key] = merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def parse_params(raw: Any, path: str, *, allowed: tuple[str, ...]) -> dict[str, Param]:
    """Fragment ``params`` (or the declarations a workflow forwards): name -> Param."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FragmentError(path, f"params must be a mapping, got {describe(raw)}")
    out: dict[str, Param] = {}
    for name, decl in raw.items():
        where = at(path, str(name))
        if not isinstance(decl, dict):
            raise FragmentError(where, f'param "{name}" must be a mapping')
        extra = [k for k in decl if k not in ("type", "facet_kind", "default")]
        if extra or ("default" in decl and allowed == FRAGMENT_PARAM_TYPES):
            key = extra[0] if extra else "default"
            raise FragmentError(at(where, key), f'param "{name}" has unsupported key "{key}"')
        kind, ptype = decl.get("facet_kind"), decl.get("type")
        if ptype not in allowed:
            raise FragmentError(
                at(where, "type"),
                f'param "{name}" has an invalid type (one of {", ".join(allowed)})',
            )
        if ptype in _FACET_TYPES:
            if kind not in PARAM_KINDS:
                raise FragmentError(
                    at(where, "facet_kind"),
                    f'param "{name}" needs a facet_kind (one of {", ".join(PARAM_KINDS)})',
                )
        elif kind is not None:
            raise FragmentError(
                at(where, "facet_kind"), f'param "{name}" does not allow facet_kind for {ptype}'
            )
        out[str(name)] = Param(ptype, kind)
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
        bound = self._bind(fragment, step, path, uses, note)
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

    def _bind(self, fragment: dict, caller: dict, path: str, uses: str, note: str) -> dict:
        def inside_fragment(exc: FragmentError) -> FragmentError:
            return FragmentError(at(path, "uses"), f'step fragment "{uses}": {exc.path}: {exc}')

        try:
            declared = parse_params(fragment.get("params"), "params", allowed=FRAGMENT_PARAM_TYPES)
        except FragmentError as exc:
            raise inside_fragment(exc) from None
        bindings = self._bindings(caller, declared, path)
        try:
            return self._fields(fragment, declared, bindings, "", root=True)
        except FragmentError as exc:
            raise inside_fragment(exc) from None

    def _bindings(self, caller: dict, declared: dict[str, Param], path: str) -> dict[str, Any]:
        given = caller.get("with")
        where = at(path, "with")
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise FragmentError(where, f"with must be a mapping, got {describe(given)}")
        for name in given:
            if name not in declared:
                raise FragmentError(at(where, str(name)), f'unknown fragment param "{name}"')
        out: dict[str, Any] = {}
        for name, param in declared.items():
            if name not in given:
                raise FragmentError(at(where, name), f'missing required fragment param "{name}"')
            out[name] = self._binding(name, param, given[name], at(where, name))
        return out

    def _binding(self, name: str, param: Param, value: Any, where: str) -> Any:
        if isinstance(value, _Bound):
            self._compatible(name, value.param, param, where)
            return value.value
        if is_param_ref(value):
            outer = param_name(value, where)
            if outer not in self.outer:
                raise FragmentError(
                    where, f'fragment binding references undeclared workflow param "{outer}"'
                )
            self._compatible(name, self.outer[outer], param, where)
            return {"$param": outer}
        if param.type == "facet_ref[]":
            if not isinstance(value, list) or any(not isinstance(v, str) or not v for v in value):
                raise FragmentError(where, f'fragment param "{name}" needs a list of facet names')
            return list(value)
        if not isinstance(value, str) or not value:
            what = {"workflow_ref": "workflow", "facet_pool_ref": "facet pool"}.get(
                param.type, "facet"
            )
            raise FragmentError(where, f'fragment param "{name}" needs one {what} name')
        return value

    @staticmethod
    def _compatible(name: str, given: Param, wanted: Param, where: str) -> None:
        if given.type != wanted.type:
            raise FragmentError(where, f'fragment param "{name}" has incompatible cardinality')
        if given.kind != wanted.kind:
            raise FragmentError(where, f'fragment param "{name}" has incompatible facet kind')

    def _substitute(
        self, value: Any, contract: _Contract, declared: dict[str, Param], bound: dict, where: str
    ) -> Any:
        if not is_param_ref(value):
            self._no_refs(value, where)
            return value
        name = param_name(value, where)
        param = declared.get(name)
        if param is None:
            raise FragmentError(where, f'references undeclared param "{name}"')
        if param.type not in contract.types:
            raise FragmentError(where, f'param "{name}" has incompatible cardinality')
        if param.type in _FACET_TYPES and contract.kinds and param.kind not in contract.kinds:
            raise FragmentError(where, f'param "{name}" has incompatible facet kind')
        return bound[name]

    def _facet_list(
        self, value: Any, contract: _Contract, declared: dict[str, Param], bound: dict, where: str
    ) -> Any:
        if not isinstance(value, list):
            return self._substitute(value, contract, declared, bound, where)
        out: list[Any] = []
        for i, item in enumerate(value):
            got = self._substitute(item, contract, declared, bound, at(where, i))
            out += got if isinstance(got, list) else [got]
        return out

    def _no_refs(self, value: Any, where: str) -> None:
        if has_param_refs(value):
            raise FragmentError(where, "a parameter reference is not supported here")

    def _fields(
        self, step: dict, declared: dict[str, Param], bound: dict, path: str, *, root: bool
    ) -> dict:
        out: dict[str, Any] = {}
        sub = lambda v, c, w: self._substitute(v, c, declared, bound, w)  # noqa: E731
        for key, value in step.items():
            where = at(path, key)
            if key == "params":
                if not root:
                    raise FragmentError(where, "params are only allowed at the fragment root")
                continue
            if key in ("policy", "knowledge", "instruction"):
                contract = {"policy": _POLICY, "knowledge": _KNOWLEDGE}.get(key, _INSTRUCTION)
                out[key] = self._facet_list(value, contract, declared, bound, where)
            elif key == "persona":
                out[key] = sub(value, _PERSONA, where)
            elif key == "call":
                out[key] = sub(value, _CALL, where)
            elif key == "completion_retry" and isinstance(value, dict):
                out[key] = {
                    k: sub(v, _ONE_INSTRUCTION, at(where, k))
                    if k == "retry_instruction"
                    else self._checked(v, at(where, k))
                    for k, v in value.items()
                }
            elif key == "output_contracts" and isinstance(value, dict):
                out[key] = self._contracts(value, declared, bound, where)
            elif key == "args" and isinstance(value, dict):
                out[key] = {k: sub(v, _CALL_ARG, at(where, str(k))) for k, v in value.items()}
            elif key == "dynamic_facets" and isinstance(value, dict):
                out[key] = self._dynamic_facets(value, declared, bound, where)
            elif key == "with":
                out[key] = self._pass_through(step, value, declared, bound, where)
            elif key == "parallel" and isinstance(value, list | dict):
                out[key] = self._members(value, declared, bound, where)
            else:
                out[key] = self._checked(value, where)
        return out

    def _checked(self, value: Any, where: str) -> Any:
        self._no_refs(value, where)
        return value

    def _contracts(self, value: dict, declared: dict, bound: dict, where: str) -> dict:
        out = dict(value)
        for key, item in value.items():
            if key != "report" or not isinstance(item, list):
                self._no_refs(item, at(where, key))
                continue
            entries = []
            for i, entry in enumerate(item):
                epath = at(at(where, "report"), i)
                if isinstance(entry, dict):
                    entry = {
                        k: self._substitute(v, _REPORT_FORMAT, declared, bound, at(epath, k))
                        if k == "format"
                        else self._checked(v, at(epath, k))
                        for k, v in entry.items()
                    }
                else:
                    self._no_refs(entry, epath)
                entries.append(entry)
            out["report"] = entries
        return out

    def _dynamic_facets(self, value: dict, declared: dict, bound: dict, where: str) -> dict:
        pool = value.get("pool")
        rest = {k: v for k, v in value.items() if k != "pool"}
        self._no_refs(rest, where)
        if not is_param_ref(pool):
            return dict(value)
        name = param_name(pool, at(where, "pool"))
        param = declared.get(name) or self.outer.get(name)
        if param is None:
            raise FragmentError(at(where, "pool"), f'references undeclared param "{name}"')
        if param.type != "facet_pool_ref":
            raise FragmentError(at(where, "pool"), f'param "{name}" must be a facet_pool_ref')
        return {**value, "pool": bound[name]} if name in bound else dict(value)

    def _pass_through(self, step: dict, value: Any, declared: dict, bound: dict, where: str) -> Any:
        if not isinstance(step.get("uses"), str) or not isinstance(value, dict):
            raise FragmentError(where, "with bindings need a nested uses reference")
        out = {}
        for name, binding in value.items():
            bwhere = at(where, str(name))
            if not is_param_ref(binding):
                self._no_refs(binding, bwhere)
                out[name] = binding
                continue
            ref = param_name(binding, bwhere)
            if ref not in declared:
                raise FragmentError(bwhere, f'references undeclared param "{ref}"')
            out[name] = _Bound(declared[ref], bound[ref])
        return out

    def _members(self, value: Any, declared: dict, bound: dict, where: str) -> Any:
        def member(item: Any, mpath: str) -> Any:
            if isinstance(item, dict):
                return self._fields(item, declared, bound, mpath, root=False)
            return self._checked(item, mpath)

        if isinstance(value, list):
            return [member(m, at(where, i)) for i, m in enumerate(value)]
        out = {}
        for branch, items in value.items():
            bpath = at(where, str(branch))
            if branch in ("fixed", "pool") and isinstance(items, list):
                out[branch] = [member(m, at(bpath, i)) for i, m in enumerate(items)]
            else:
                out[branch] = self._checked(items, bpath)
        return out
