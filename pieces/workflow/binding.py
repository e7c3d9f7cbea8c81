"""Binding a step fragment's parameters: ``with:`` on the step that uses it, ``$param``
in the fragment (SEMANTICS.md §7.6).

Each declared parameter (``facet_ref``, ``facet_ref[]``, ``workflow_ref``,
``facet_pool_ref``) must be bound, and nothing else may be. A binding is a literal or
``{$param: outer}``, which forwards a parameter of the enclosing callable workflow and
stays a reference until that workflow is called. Inside the fragment a reference may
only stand where its type and facet kind fit: a policy list takes policy parameters,
``call`` a workflow, ``dynamic_facets.pool`` a pool, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pieces.parse import at, describe
from pieces.workflow.keys import FRAGMENT_PARAM_TYPES, PARAM_KINDS

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


class Binder:
    """Binds one fragment for the step that uses it."""

    def __init__(self, outer: dict[str, Param]) -> None:
        self.outer = outer  # the declarations of the workflow's subworkflow.params

    def bind(self, fragment: dict, caller: dict, path: str, uses: str) -> dict:
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
