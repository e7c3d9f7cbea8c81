"""Parameters of a callable workflow: declared in ``subworkflow.params``, bound by the
caller's ``args`` (or their defaults), substituted for ``{$param: name}`` in the steps.

Types (SEMANTICS.md §7.6): ``facet_ref`` and ``facet_ref[]`` (with ``facet_kind``:
policy, knowledge, instruction, persona or report_format), ``workflow_ref`` (a workflow
to call), ``facet_pool_ref`` (one of the workflow's facet pools) and ``companion_ref[]``
(companions, as a list or ``{fixed, pool, moderator}``). A facet named by an argument
must exist from the called workflow's point of view. A workflow that is not callable may
not contain ``$param`` at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pieces.parse import at, describe
from pieces.problems import Problem
from pieces.workflow.binding import Param, has_param_refs, is_param_ref
from pieces.workflow.keys import KIND_FOLDER, PARAM_KINDS, PARAM_TYPES

_MISSING = object()
_FACET_TYPES = ("facet_ref", "facet_ref[]")


@dataclass(frozen=True)
class WorkflowParam:
    type: str
    kind: str | None = None
    default: Any = _MISSING

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def as_param(self) -> Param:
        return Param(self.type, self.kind)


class ParamError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def parse_declarations(raw: Any, path: str, problems: list[Problem]) -> dict[str, WorkflowParam]:
    """``subworkflow.params``, each problem reported and the bad declaration dropped."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"expected a mapping of parameters, got {describe(raw)}"))
        return {}
    out: dict[str, WorkflowParam] = {}
    for name, decl in raw.items():
        where = at(path, str(name))
        try:
            out[str(name)] = _declaration(decl, where)
        except ParamError as exc:
            problems.append(Problem(exc.path, str(exc)))
    return out


def _declaration(decl: Any, where: str) -> WorkflowParam:
    if not isinstance(decl, dict):
        raise ParamError(where, f"expected a mapping with a type, got {describe(decl)}")
    ptype, kind = decl.get("type"), decl.get("facet_kind")
    if ptype not in PARAM_TYPES:
        raise ParamError(
            at(where, "type"), f"unknown parameter type (one of {', '.join(PARAM_TYPES)})"
        )
    allowed = {"type", "default"} | ({"facet_kind"} if ptype in _FACET_TYPES else set())
    for key in decl:
        if key not in allowed:
            raise ParamError(at(where, str(key)), f"not allowed on a {ptype} parameter")
    if ptype in _FACET_TYPES and kind not in PARAM_KINDS:
        raise ParamError(
            at(where, "facet_kind"), f"needs a facet_kind (one of {', '.join(PARAM_KINDS)})"
        )
    if "default" not in decl:
        return WorkflowParam(ptype, kind)
    default = decl["default"]
    dwhere = at(where, "default")
    if ptype == "facet_ref[]":
        if not _string_list(default):
            raise ParamError(dwhere, "facet_ref[] parameters need a list default")
    elif ptype == "companion_ref[]":
        _companions(default, dwhere)
    elif not isinstance(default, str) or not default:
        raise ParamError(dwhere, f"{ptype} parameters need a single name as default")
    return WorkflowParam(ptype, kind, default)


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _companions(value: Any, where: str) -> None:
    if _string_list(value):
        return
    if not isinstance(value, dict) or any(k not in ("fixed", "pool", "moderator") for k in value):
        raise ParamError(where, "expected a list of companions or {fixed, pool, moderator}")
    fixed, pool, moderator = value.get("fixed", []), value.get("pool", []), value.get("moderator")
    if not _string_list(fixed) or not _string_list(pool):
        raise ParamError(where, "fixed and pool must be lists of companion names")
    if not fixed and not pool:
        raise ParamError(where, "a companion selection needs a fixed or pool companion")
    if moderator is not None and (not isinstance(moderator, str) or moderator in [*fixed, *pool]):
        raise ParamError(where, "the moderator must be a companion that is not also a reviewer")


def forwardable(raw: Any) -> dict[str, Param]:
    """The declarations step fragments may forward to (TAKT reads them leniently)."""
    out: dict[str, Param] = {}
    if isinstance(raw, dict):
        params = raw.get("params")
        for name, decl in (params if isinstance(params, dict) else {}).items():
            if not isinstance(decl, dict):
                continue
            ptype, kind = decl.get("type"), decl.get("facet_kind")
            if ptype in ("workflow_ref", "facet_pool_ref") and kind is None:
                out[str(name)] = Param(ptype)
            elif ptype in _FACET_TYPES and kind in PARAM_KINDS:
                out[str(name)] = Param(ptype, kind)
    return out


def bind(
    params: dict[str, WorkflowParam],
    given: dict[str, Any] | None,
    workflow: str,
    facet_exists: Callable[[str, str], bool],
    pools: set[str],
) -> tuple[dict[str, Any], list[Problem]]:
    """The value of each parameter: the caller's argument, else the default.

    Problems about arguments are at ``args.<name>`` (the caller's), about defaults at
    ``subworkflow.params.<name>.default``.
    """
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in (given or {}).items():
        where = at("args", str(name))
        if name not in params:
            problems.append(
                Problem(
                    where, f'workflow_call arg "{name}" is not declared by workflow "{workflow}"'
                )
            )
            continue
        try:
            _check_value(name, params[name], value, where, facet_exists, pools)
        except ParamError as exc:
            problems.append(Problem(exc.path, str(exc)))
        # Bound even when refused: the refusal is reported once, not again at every use.
        values[name] = value
    for name, param in params.items():
        if name in values or name in (given or {}) or not param.has_default:
            continue
        where = at(at("subworkflow.params", name), "default")
        try:
            _check_value(name, param, param.default, where, facet_exists, pools)
            values[name] = param.default
        except ParamError as exc:
            problems.append(Problem(exc.path, str(exc)))
    return values, problems


def _check_value(
    name: str,
    param: WorkflowParam,
    value: Any,
    where: str,
    facet_exists: Callable[[str, str], bool],
    pools: set[str],
) -> None:
    if param.type == "companion_ref[]":
        try:
            _companions(value, where)
        except ParamError as exc:
            raise ParamError(where, f'workflow_call arg "{name}": {exc}') from None
        return
    if param.type in ("workflow_ref", "facet_pool_ref"):
        if not isinstance(value, str) or not value:
            raise ParamError(where, f'workflow_call arg "{name}" must be one {param.type} name')
        if param.type == "facet_pool_ref" and value not in pools:
            raise ParamError(
                where, f'workflow_call arg "{name}" names unknown facet pool "{value}"'
            )
        return
    refs = value if param.type == "facet_ref[]" else [value]
    if param.type == "facet_ref" and not (isinstance(value, str) and value):
        raise ParamError(where, f'workflow_call arg "{name}" must be one facet name')
    if param.type == "facet_ref[]" and not _string_list(value):
        raise ParamError(where, f'workflow_call arg "{name}" must be a list of facet names')
    folder = KIND_FOLDER[param.kind or "policy"]
    for ref in refs:
        if not facet_exists(folder, ref):
            raise ParamError(
                where, f'workflow_call arg "{name}" names unknown {param.kind} facet "{ref}"'
            )


class Substituter:
    """Replaces ``{$param: x}`` in the steps of one workflow (or refuses them)."""

    def __init__(
        self,
        params: dict[str, WorkflowParam],
        values: dict[str, Any],
        callable_: bool,
        pools: set[str],
        problems: list[Problem],
    ) -> None:
        self.params = params
        self.values = values
        self.callable = callable_
        self.pools = pools
        self.problems = problems

    def steps(self, steps: list[Any]) -> list[Any]:
        return [self.step(s, f"steps[{i}]") for i, s in enumerate(steps)]

    def step(self, step: Any, path: str) -> Any:
        if not isinstance(step, dict):
            return step
        name = step.get("name") if isinstance(step.get("name"), str) else "?"
        out = dict(step)
        try:
            self._fields(out, name, path)
        except ParamError as exc:
            self.problems.append(Problem(exc.path, str(exc)))
            # What still holds a reference was refused above; do not report it again.
            out = {k: v for k, v in out.items() if k == "parallel" or not has_param_refs(v)}
        return out

    def _value(
        self, ref: dict, step: str, field: str, types: tuple[str, ...], kind: str | None, where: str
    ) -> Any:
        name = ref.get("$param")
        if not self.callable:
            raise ParamError(
                where, f'step "{step}" cannot use $param in {field} outside a callable workflow'
            )
        if len(ref) != 1 or not isinstance(name, str) or name not in self.params:
            raise ParamError(
                where, f'step "{step}" references undeclared param "{name}" in {field}'
            )
        param = self.params[name]
        if param.type not in types:
            raise ParamError(
                where, f'step "{step}" expects {field} to use a {" or ".join(types)} param "{name}"'
            )
        if kind is not None and param.kind != kind:
            raise ParamError(where, f'step "{step}" expects {field} to use a {kind} param "{name}"')
        if name not in self.values:
            raise ParamError(
                where,
                f'step "{step}" requires workflow_call arg "{name}" for {field} '
                "(the parameter has no default)",
            )
        value = self.values[name]
        return list(value) if isinstance(value, list) else value

    def _one(
        self, out: dict, key: str, step: str, types, kind, where: str, field: str = ""
    ) -> None:
        if is_param_ref(out.get(key)):
            out[key] = self._value(out[key], step, field or key, types, kind, at(where, key))

    def _list(self, out: dict, key: str, step: str, kind: str, path: str) -> None:
        value = out.get(key)
        where = at(path, key)
        if is_param_ref(value):
            out[key] = self._value(value, step, key, _FACET_TYPES, kind, where)
        elif isinstance(value, list):
            items: list[Any] = []
            for i, item in enumerate(value):
                if is_param_ref(item):
                    got = self._value(item, step, key, _FACET_TYPES, kind, at(where, i))
                    items += got if isinstance(got, list) else [got]
                else:
                    items.append(item)
            out[key] = items

    def _selector(self, holder: dict, step: str, where: str, field: str) -> None:
        selector = holder.get("selector")
        if isinstance(selector, dict):
            selector = dict(selector)
            swhere = at(where, "selector")
            self._one(
                selector,
                "persona",
                step,
                ("facet_ref",),
                "persona",
                swhere,
                f"{field}.selector.persona",
            )
            self._one(
                selector,
                "instruction",
                step,
                ("facet_ref",),
                "instruction",
                swhere,
                f"{field}.selector.instruction",
            )
            holder["selector"] = selector

    def _fields(self, out: dict, step: str, path: str) -> None:
        self._one(out, "call", step, ("workflow_ref",), None, path)
        self._one(out, "persona", step, ("facet_ref",), "persona", path)
        self._list(out, "policy", step, "policy", path)
        self._list(out, "knowledge", step, "knowledge", path)
        self._list(out, "instruction", step, "instruction", path)
        facets = out.get("dynamic_facets")
        if isinstance(facets, dict):
            facets = dict(facets)
            fwhere = at(path, "dynamic_facets")
            self._one(
                facets, "pool", step, ("facet_pool_ref",), None, fwhere, "dynamic_facets.pool"
            )
            self._selector(facets, step, fwhere, "dynamic_facets")
            out["dynamic_facets"] = facets
        if is_param_ref(out.get("companion")):
            value = self._value(
                out["companion"],
                step,
                "companion",
                ("companion_ref[]",),
                None,
                at(path, "companion"),
            )
            if value == []:
                del out["companion"]
            else:
                out["companion"] = value
        retry = out.get("completion_retry")
        if isinstance(retry, dict):
            retry = dict(retry)
            self._one(
                retry,
                "retry_instruction",
                step,
                ("facet_ref",),
                "instruction",
                at(path, "completion_retry"),
                "completion_retry.retry_instruction",
            )
            out["completion_retry"] = retry
        self._contracts(out, step, path)
        args = out.get("args")
        if isinstance(args, dict):
            awhere = at(path, "args")
            out["args"] = {
                k: self._value(v, step, f"args.{k}", tuple(PARAM_TYPES), None, at(awhere, str(k)))
                if is_param_ref(v)
                else v
                for k, v in args.items()
            }
        self._members(out, step, path)

    def _contracts(self, out: dict, step: str, path: str) -> None:
        contracts = out.get("output_contracts")
        if not isinstance(contracts, dict) or not isinstance(contracts.get("report"), list):
            return
        entries = []
        rwhere = at(at(path, "output_contracts"), "report")
        for i, entry in enumerate(contracts["report"]):
            if isinstance(entry, dict) and is_param_ref(entry.get("format")):
                entry = dict(entry)
                self._one(
                    entry,
                    "format",
                    step,
                    ("facet_ref",),
                    "report_format",
                    at(rwhere, i),
                    "output_contracts.report.format",
                )
            entries.append(entry)
        out["output_contracts"] = {**contracts, "report": entries}

    def _members(self, out: dict, step: str, path: str) -> None:
        parallel = out.get("parallel")
        where = at(path, "parallel")
        if isinstance(parallel, list):
            out["parallel"] = [self.step(m, at(where, i)) for i, m in enumerate(parallel)]
        elif isinstance(parallel, dict):
            parallel = dict(parallel)
            for branch in ("fixed", "pool"):
                if isinstance(parallel.get(branch), list):
                    parallel[branch] = [
                        self.step(m, at(at(where, branch), i))
                        for i, m in enumerate(parallel[branch])
                    ]
            selection = parallel.get("selection")
            if isinstance(selection, dict):
                selection = dict(selection)
                self._selector(selection, step, at(where, "selection"), "parallel.selection")
                parallel["selection"] = selection
            out["parallel"] = parallel
