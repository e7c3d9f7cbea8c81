"""One TAKT v0.60 workflow, from its YAML data to a resolved ``Piece`` (dialect "workflow").

The stages, each reporting problems at YAML paths and carrying on:

1. the workflow's own keys (strict, as in TAKT; the words TAKT 0.36 renamed and the
   provider settings it moved to runtime.yaml are named in the error);
2. sections, facet pools, ``subworkflow`` parameters, capabilities, ``all_steps``;
3. step fragments expanded (``pieces.workflow.fragments``), then the parameters bound
   to the caller's arguments or their defaults (``pieces.workflow.params``);
4. each step read into a ``Movement`` (``pieces.workflow.steps``), loop monitors;
5. whole-workflow checks (``pieces.workflow.validate``);
6. the workflows it calls, compiled in turn and embedded (``pieces.workflow.calls``).

A ``Session`` spans one submission: the root workflow and everything it calls share
one file cache and compile each (workflow, arguments) pair once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pieces.limits import shape_problems
from pieces.model import FacetPool, Piece, Subworkflow
from pieces.parse import Walker, at, describe
from pieces.problems import Problem, did_you_mean
from pieces.schema import SECTION_OF_KIND, Ref
from pieces.workflow import capabilities
from pieces.workflow.calls import MAX_CALLEES, Calls, Compiled, call_key
from pieces.workflow.conditions import parse_condition
from pieces.workflow.facets import WorkflowFacets
from pieces.workflow.forge import enqueued_workflows, system_problems
from pieces.workflow.fragments import Expander
from pieces.workflow.keys import (
    INTERACTIVE_MODES,
    RENAMED,
    ROUTING_MESSAGE,
    RUNTIME_HINT,
    RUNTIME_MESSAGE,
    SUBWORKFLOW_KEYS,
    WORKFLOW_KEYS,
)
from pieces.workflow.monitors import parse_monitors
from pieces.workflow.params import Substituter, WorkflowParam, bind, forwardable, parse_declarations
from pieces.workflow.paths import PathMap
from pieces.workflow.pools import parse_pools
from pieces.workflow.prose import parse_all_steps
from pieces.workflow.resources import FileCache, ResourceError, Resources
from pieces.workflow.steps import Context, build_step
from pieces.workflow.validate import Checker, unwritten_reports
from pieces.yamlio import load_yaml


@dataclass
class Session:
    """One submission: the search path, the file cache, the compiled callees."""

    libraries: list[Path]
    cache: FileCache = field(default_factory=FileCache)
    compiled: dict[tuple[Path, str], Compiled] = field(default_factory=dict)

    def compile_file(self, file: Path, args: dict[str, Any], chain: tuple[Path, ...]) -> Compiled:
        key = (file, call_key("", args))
        if key in self.compiled:
            return self.compiled[key]
        if len(self.compiled) >= MAX_CALLEES:
            return Compiled(None, [Problem("", f"more than {MAX_CALLEES} called workflows")])
        try:
            data, problems, usable = load_yaml(self.cache.text(file))
        except ResourceError as exc:
            return Compiled(None, [Problem("", str(exc))])
        if not usable or any(p.severity == "error" for p in problems):
            return Compiled(None, problems)
        result = compile_workflow(
            data,
            file.parent,
            self,
            default_name=file.stem,
            source=str(file),
            args=args,
            chain=chain,
        )
        self.compiled[key] = result
        return result


def _top_keys(w: Walker, m: dict) -> None:
    for key in m:
        key = str(key)
        if key in RENAMED:
            w.error(key, f"{key} is TAKT 0.31's word; a workflow says {RENAMED[key]}")
        elif key in ("provider", "model", "provider_options"):
            w.error(key, RUNTIME_MESSAGE, RUNTIME_HINT)
        elif key in ("auto_routing", "rate_limit_fallback"):
            w.error(key, ROUTING_MESSAGE, RUNTIME_HINT)
        elif key == "permission_mode":
            w.error(
                key, "not accepted at the workflow level", "set required_permission_mode on steps"
            )
        elif key == "mcp_servers":
            w.warn(key, "ignored by legato", "legato gives agents its own tools, not MCP servers")
        elif key not in WORKFLOW_KEYS:
            w.error(key, "unknown key", did_you_mean(key, WORKFLOW_KEYS))


def _workflow_config(w: Walker, value: Any) -> None:
    m = w.mapping(value, "workflow_config")
    for key in m or {}:
        where = at("workflow_config", str(key))
        if key in ("provider", "model", "provider_options"):
            w.error(where, RUNTIME_MESSAGE, RUNTIME_HINT)
        elif key == "runtime":
            w.warn(where, "ignored by legato", "legato prepares each job's workspace itself")
        else:
            w.error(where, "unknown key", did_you_mean(str(key), ["runtime"]))


def _sections(w: Walker, m: dict) -> dict[str, dict[str, Ref]]:
    out: dict[str, dict[str, Ref]] = {}
    for kind, section in SECTION_OF_KIND.items():
        value = m.get(section)
        entries: dict[str, Ref] = {}
        for key, item in (
            w.mapping(value, section, "a mapping of name to file path") or {}
            if value is not None
            else {}
        ).items():
            where = at(section, str(key))
            if isinstance(item, str) and item.strip():
                entries[str(key)] = Ref(value=item, path=where)
            else:
                w.error(where, f"expected a file path or text, got {describe(item)}")
        out[kind] = entries
    return out


def _max_steps(w: Walker, m: dict) -> int | None:
    value = m.get("max_steps", 10)
    if value == "infinite":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        w.error("max_steps", f'expected a positive integer or "infinite", got {describe(value)}')
        return 10
    return value


def _subworkflow(w: Walker, value: Any) -> tuple[Subworkflow | None, dict[str, WorkflowParam]]:
    if value is None:
        return None, {}
    m = w.mapping(value, "subworkflow")
    if m is None:
        return None, {}
    for key in m:
        if key not in SUBWORKFLOW_KEYS:
            w.error(
                at("subworkflow", str(key)), "unknown key", did_you_mean(str(key), SUBWORKFLOW_KEYS)
            )
    callable_ = bool(w.boolean(m, "callable", "subworkflow"))
    if not callable_:
        for key in ("visibility", "returns", "params"):
            if key in m:
                w.error(at("subworkflow", key), f"subworkflow.{key} requires callable: true")
    visibility = w.string(m, "visibility", "subworkflow")
    if visibility is not None and visibility != "internal":
        w.error(at("subworkflow", "visibility"), 'the only visibility is "internal"')
    returns = w.strings(m, "returns", "subworkflow")
    for i, label in enumerate(returns):
        where = at(at("subworkflow", "returns"), i)
        if label in ("COMPLETE", "ABORT"):
            w.error(where, f'subworkflow.returns must not include the reserved result "{label}"')
            continue
        try:
            if parse_condition(label).kind != "semantic":
                w.error(where, f'subworkflow.returns must be plain result labels: "{label}"')
        except ValueError as exc:
            w.error(where, str(exc))
    params = parse_declarations(m.get("params"), at("subworkflow", "params"), w.problems)
    shown = {
        name: {
            "type": p.type,
            **({"facet_kind": p.kind} if p.kind else {}),
            **({"default": p.default} if p.has_default else {}),
        }
        for name, p in params.items()
    }
    return Subworkflow(callable=callable_, params=shown, returns=returns), params


def compile_workflow(
    data: Any,
    piece_dir: Path | None,
    session: Session,
    *,
    default_name: str | None = None,
    source: str | None = None,
    args: dict[str, Any] | None = None,
    chain: tuple[Path, ...] = (),
) -> Compiled:
    w = Walker()
    m = w.mapping(data, "", "the workflow to be a mapping")
    if m is None:
        return Compiled(None, w.problems)
    _top_keys(w, m)
    name = w.string(m, "name", "") or default_name
    if name is None:
        w.error("name", "missing required key")
    elif default_name and m.get("name") and name != default_name:
        w.warn(
            "name",
            f'"{name}" differs from the file name "{default_name}"',
            "the workflow is found by its file name",
        )
    if m.get("workflow_config") is not None:
        _workflow_config(w, m["workflow_config"])
    limit = _max_steps(w, m)
    mode = w.string(m, "interactive_mode", "")
    if mode is not None and mode not in INTERACTIVE_MODES:
        w.error("interactive_mode", f'unknown interactive mode "{mode}"')
    cache, libraries = session.cache, session.libraries
    facets = WorkflowFacets(piece_dir, libraries, _sections(w, m), w.problems, cache)
    res = Resources.for_file(piece_dir, libraries, cache)
    schemas: dict[str, str] = {}
    for key, value in (w.mapping(m.get("schemas") or {}, "schemas") or {}).items():
        if isinstance(value, str) and value:
            schemas[str(key)] = value
        else:
            w.error(at("schemas", str(key)), f"expected a schema name, got {describe(value)}")
    subworkflow, params = _subworkflow(w, m.get("subworkflow"))
    default_caps = None
    if m.get("capabilities") is not None:
        default_caps = capabilities.resolve(m["capabilities"], res, "capabilities", w.problems)
    after, before = parse_all_steps(w, m.get("all_steps"), res)
    pools: dict[str, FacetPool] = parse_pools(w, m.get("facet_pools"), facets, res, libraries)
    callable_ = subworkflow is not None and subworkflow.callable
    values: dict[str, Any] = {}
    if callable_:
        values, bound = bind(params, args, name or "?", facets.exists, set(pools))
        w.problems += bound
    elif args:
        w.error("args", f'workflow "{name}" takes no arguments', "it is not callable")
    raw_steps = m.get("steps")
    if "steps" not in m:
        w.error("steps", "missing required key", "a workflow needs at least one step")
    elif not isinstance(raw_steps, list) or not raw_steps:
        w.error("steps", "must list at least one step")
    pathmap = PathMap()
    steps_data = raw_steps if isinstance(raw_steps, list) else []
    expander = Expander(res, pathmap, forwardable(m.get("subworkflow")))
    steps_data = expander.steps(steps_data, w.problems)
    shape = shape_problems({"steps": steps_data})
    if shape:
        return Compiled(None, [*w.problems, *shape])
    steps_data = Substituter(params, values, callable_, set(pools), w.problems).steps(steps_data)
    ctx = Context(w, facets, res, libraries, schemas, default_caps, pools)
    located = [
        s
        for i, item in enumerate(steps_data)
        if (s := build_step(ctx, item, f"steps[{i}]")) is not None
    ]
    monitors = parse_monitors(w, m.get("loop_monitors"), facets)
    initial = w.string(m, "initial_step", "")
    checker = Checker(
        located,
        initial,
        monitors,
        callable_,
        subworkflow.returns if subworkflow else [],
        ctx.failed,
    )
    problems = [*w.problems, *checker.run()]
    if not callable_:
        problems += unwritten_reports(located, monitors)
    if not chain and source:
        chain = (Path(source).resolve(),)
    calls = Calls(res, session.compile_file, chain, tuple(p.stem for p in chain) or (name or "?",))
    located = calls.resolve(located)
    problems += calls.problems
    problems += system_problems(located, initial, monitors)

    def compile_root(file: Path, along: tuple[Path, ...]):
        compiled = session.compile_file(file, {}, along)
        return compiled.piece, compiled.problems

    enqueues, found = enqueued_workflows(located, res, chain, compile_root)
    problems += found
    problems = pathmap.relocate_all(problems)
    if any(p.severity == "error" for p in problems) or not name or not located:
        return Compiled(None, problems, calls.height, calls.longest, frozenset(calls.files))
    piece = Piece(
        name=name,
        dialect="workflow",
        description=w.string(m, "description", ""),
        max_movements=limit,
        initial_movement=initial or located[0].movement.name,
        movements=[s.movement for s in located],
        loop_monitors=monitors,
        all_steps_rules=after,
        all_steps_rules_before=before,
        subworkflow=subworkflow,
        callees=calls.callees,
        enqueues=enqueues,
        facet_pools=pools,
        warnings=[p for p in problems if p.severity == "warning"],
        source=source,
    )
    return Compiled(piece, problems, calls.height, calls.longest, frozenset(calls.files))
