"""One workflow step (after fragments and parameters) read into a resolved ``Movement``.

A step is an agent step (the three phases), a parallel step (static members, or
``{fixed, pool, selection}`` chosen by a selector each visit), a team leader, a
``kind: workflow_call`` (``call``/``args``/``vars``) or a ``kind: system`` step
(``system_inputs``/``effects``). What each kind may carry follows TAKT v0.60's schema;
the refusals say what to write instead. legato's own ``tier`` and ``agent`` keys work
on workflow steps as on piece movements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pieces.model import DynamicParallel, FacetPool, Movement
from pieces.parse import Walker, at, describe
from pieces.problems import did_you_mean
from pieces.schema import Ref
from pieces.workflow import capabilities, features
from pieces.workflow.companions import parse_companion
from pieces.workflow.facets import WorkflowFacets
from pieces.workflow.fragments import FAILED
from pieces.workflow.keys import (
    DYNAMIC_PARALLEL_KEYS,
    IGNORED_STEP_KEYS,
    PERMISSION_MODES,
    REMOVED_STEP_KEYS,
    SELECTION_KEYS,
    SESSION_MODES,
    STEP_KEYS,
    STEP_KINDS,
    SUBSTEP_FORBIDDEN,
    SYSTEM_FORBIDDEN,
    WORKFLOW_CALL_FORBIDDEN,
)
from pieces.workflow.resources import Resources
from pieces.workflow.rules import Place, parse_rules

_TIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
REVIEW_MODES = ("initial", "follow_up")
JOIN = "\n\n---\n\n"

Capabilities = tuple[list[str], list[str]]  # (set names, tools)


@dataclass
class Located:
    """A built step and where it was written, for the whole-workflow checks."""

    movement: Movement
    path: str
    parent: str | None = None  # the parallel step holding it
    role: str | None = None  # "fixed" / "pool" in a dynamic parallel step
    members: list[Located] = field(default_factory=list)


@dataclass
class Context:
    w: Walker
    facets: WorkflowFacets
    res: Resources
    libraries: list[Path]
    schemas: dict[str, str] = field(default_factory=dict)
    capabilities: Capabilities | None = None  # the workflow-level default
    pools: dict[str, FacetPool] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Parent:
    name: str
    capabilities: Capabilities | None
    allow_git_commit: bool
    dynamic: bool


def step_kind(m: dict) -> str:
    kind = m.get("kind")
    if isinstance(kind, str) and kind in STEP_KINDS:
        return kind
    if m.get("mode") == "system":
        return "system"
    if m.get("call") is not None:
        return "workflow_call"
    return "agent"


def build_step(ctx: Context, item: Any, path: str) -> Located | None:
    return _build(ctx, item, path, None, None)


def _build(
    ctx: Context, item: Any, path: str, parent: _Parent | None, role: str | None
) -> Located | None:
    w = ctx.w
    m = w.mapping(item, path)
    if m is None:
        return None
    if m.get(FAILED):
        ctx.failed.add(m.get("name") or "")
        return Located(Movement(name=m.get("name") or ""), path, parent and parent.name, role)
    _keys(w, m, path)
    name = w.string(m, "name", path, required=True) or ""
    kind = _kind(w, m, path)
    member = parent is not None
    if member:
        _member_keys(w, m, path, kind, parent, role)
    for key in ("call", "args", "vars"):
        if key in m and kind != "workflow_call":
            w.error(at(path, key), f'only workflow_call steps can declare "{key}"')
    if ("system_inputs" in m or "effects" in m) and kind != "system":
        w.error(at(path, "mode"), 'steps with "system_inputs" or "effects" must set kind: system')
    if kind != "agent":
        for key in (
            "capabilities",
            "mcp",
            "session_key",
            "session",
            "requires_user_input",
            "completion_retry",
            "companion",
            "dynamic_facets",
        ):
            if key in m:
                w.error(at(path, key), f"not allowed on a {kind} step")
    common = dict(
        name=name,
        description=w.string(m, "description", path),
        tier=_tier(w, m, path),
        agent=w.string(m, "agent", path),
    )
    if kind == "workflow_call":
        return Located(_call_step(ctx, m, path, common, member), path, parent and parent.name, role)
    if kind == "system":
        return Located(_system_step(ctx, m, path, common), path, None, None)
    return _agent_step(ctx, m, path, common, parent, role)


def _keys(w: Walker, m: dict, path: str) -> None:
    for key in m:
        key = str(key)
        if key in REMOVED_STEP_KEYS:
            message, hint = REMOVED_STEP_KEYS[key]
            w.error(at(path, key), message, hint)
        elif key in IGNORED_STEP_KEYS:
            w.warn(at(path, key), "ignored by legato", IGNORED_STEP_KEYS[key])
        elif key not in STEP_KEYS:
            w.warn(at(path, key), "unknown key", did_you_mean(key, STEP_KEYS))


def _kind(w: Walker, m: dict, path: str) -> str:
    kind, mode = m.get("kind"), m.get("mode")
    if kind is not None and kind not in STEP_KINDS:
        w.error(
            at(path, "kind"),
            f"unknown step kind {describe(kind)}",
            "agent, system or workflow_call",
        )
    if mode is not None and mode != "system":
        w.error(at(path, "mode"), 'the only mode is "system"')
    if kind is not None and mode is not None:
        w.error(at(path, "kind"), 'give the step kind with either "kind" or "mode", not both')
    return step_kind(m)


def _member_keys(w: Walker, m: dict, path: str, kind: str, parent: _Parent, role: str | None):
    if kind == "workflow_call":
        if parent.dynamic:
            w.error(path, "a dynamic parallel member must be a normal agent step")
        for key in ("mode", "session_key"):
            if key in m:
                w.error(at(path, key), "not allowed on a workflow_call sub-step")
        return
    if kind == "system":
        w.error(path, "a parallel member cannot be a system step")
        return
    for key in SUBSTEP_FORBIDDEN:
        if key in m:
            w.error(at(path, key), "not allowed on a parallel sub-step")
    if role == "pool":
        description = m.get("description")
        if not isinstance(description, str) or not description.strip():
            w.error(at(path, "description"), "a pool member needs a description for the selector")
    elif "description" in m:
        w.error(
            at(path, "description"),
            "not allowed on a parallel sub-step",
            "only dynamic pool members carry a description",
        )


def _tier(w: Walker, m: dict, path: str) -> str | None:
    tier = w.string(m, "tier", path)
    if tier is not None and not _TIER.match(tier):
        w.error(
            at(path, "tier"), f'invalid tier name "{tier}"', "letters, digits, '_' and '-' only"
        )
        return None
    return tier


def _forbid(w: Walker, m: dict, path: str, keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        if key in m:
            w.error(at(path, key), f'{what} does not allow "{key}"')


def _call_step(ctx: Context, m: dict, path: str, common: dict, member: bool) -> Movement:
    w = ctx.w
    _forbid(w, m, path, WORKFLOW_CALL_FORBIDDEN, "a workflow_call step")
    call = w.string(m, "call", path, required=True)
    args: dict[str, Any] = {}
    if m.get("args") is not None:
        am = w.mapping(m["args"], at(path, "args"), "a mapping of parameter to value") or {}
        for key, value in am.items():
            if _arg_value(value):
                args[str(key)] = value
            else:
                w.error(
                    at(at(path, "args"), str(key)),
                    f"expected a name, a list of names or a "
                    f"companion selection, got {describe(value)}",
                )
    return Movement(
        **common,
        kind="workflow_call",
        call=call,
        args=args,
        vars=_vars(w, m, path),
        rules=parse_rules(w, m, path, "call_member" if member else "call"),
    )


def _arg_value(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, list):
        return all(isinstance(v, str) and v for v in value)
    return isinstance(value, dict) and all(k in ("fixed", "pool", "moderator") for k in value)


def _vars(w: Walker, m: dict, path: str) -> dict[str, Any]:
    if m.get("vars") is None:
        return {}
    where = at(path, "vars")
    vm = w.mapping(m["vars"], where, "a mapping of name to value") or {}
    out: dict[str, Any] = {}
    for key, value in vm.items():
        vpath = at(where, str(key))
        if not isinstance(key, str) or not _VAR.match(key):
            w.error(vpath, "a var name is a letter or _ followed by letters, digits, _ . or -")
        elif not isinstance(value, str | int | float):
            w.error(vpath, f"expected text, a number or true/false, got {describe(value)}")
        elif key == "review_mode" and value not in REVIEW_MODES:
            w.error(vpath, f"review_mode must be one of: {', '.join(REVIEW_MODES)}")
        else:
            out[key] = value
    return out


def _system_step(ctx: Context, m: dict, path: str, common: dict) -> Movement:
    w = ctx.w
    _forbid(w, m, path, SYSTEM_FORBIDDEN, "a system step")
    previous = w.boolean(m, "pass_previous_response", path)
    return Movement(
        **common,
        kind="system",
        delay_before_ms=w.integer(m, "delay_before_ms", path, minimum=0),
        system_inputs=features.system_inputs(w, m, path),
        effects=features.effects(w, m, path),
        rules=parse_rules(w, m, path, "system"),
        pass_previous_response=True if previous is None else previous,
    )


def _instruction(ctx: Context, m: dict, path: str) -> str:
    value = m.get("instruction")
    if value is None:
        return "{task}"
    where = at(path, "instruction")
    if isinstance(value, list):
        if not value:
            ctx.w.error(where, "must list at least one instruction")
        texts = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                ctx.w.error(at(where, i), f"expected an instruction, got {describe(item)}")
                continue
            texts.append(
                ctx.facets.resolve("instructions", Ref(value=item, path=at(where, i))) or ""
            )
        return JOIN.join(texts) or "{task}"
    ref = ctx.w.ref(m, "instruction", path)
    return ctx.facets.resolve("instructions", ref) or "{task}"


def _agent_step(
    ctx: Context, m: dict, path: str, common: dict, parent: _Parent | None, role: str | None
) -> Located:
    w, facets = ctx.w, ctx.facets
    parallel = m.get("parallel")
    is_parallel = parallel is not None
    team = m.get("team_leader")
    if is_parallel and team is not None:
        w.error(at(path, "parallel"), "parallel and team_leader are mutually exclusive")
    plain = not is_parallel and team is None
    for key in ("session", "completion_retry"):
        if key in m and not plain:
            w.error(at(path, key), f"{key} is only allowed on normal agent steps and sub-steps")
    for key in ("session_key", "requires_user_input", "dynamic_facets", "companion"):
        if key in m and is_parallel:
            w.error(at(path, key), f"{key} is not allowed on a parallel step")
    persona_ref = w.ref(m, "persona", path)
    if persona_ref is not None and not persona_ref.value.strip():
        w.error(persona_ref.path, "must not be empty")
        persona_ref = None
    persona, persona_file = facets.resolve_with_origin("personas", persona_ref)
    persona_name = w.string(m, "persona_name", path)
    if persona_name is not None and not persona_name.strip():
        w.error(at(path, "persona_name"), "must not be empty")
    caps = ctx.capabilities if parent is None else parent.capabilities
    if m.get("capabilities") is not None:
        caps = (
            capabilities.resolve(m["capabilities"], ctx.res, at(path, "capabilities"), w.problems)
            or caps
        )
    session = w.string(m, "session", path)
    if session is not None and session not in SESSION_MODES:
        w.error(
            at(path, "session"),
            f'unknown session mode "{session}"',
            did_you_mean(session, SESSION_MODES) or "continue, refresh or compact",
        )
        session = None
    mode = w.string(m, "required_permission_mode", path)
    if mode is not None and mode not in PERMISSION_MODES:
        w.error(
            at(path, "required_permission_mode"),
            f'unknown permission mode "{mode}"',
            did_you_mean(mode, PERMISSION_MODES) or "one of readonly, edit, full",
        )
        mode = None
    git = w.boolean(m, "allow_git_commit", path)
    git = git if git is not None else (parent.allow_git_commit if parent else False)
    previous = w.boolean(m, "pass_previous_response", path)
    texts, commands = features.quality_gates(w, m, path)
    for key in ("tags",):
        if key in m:
            w.strings(m, key, path)
    structured = None
    if m.get("structured_output") is not None:
        structured = features.structured_output(
            w, m["structured_output"], at(path, "structured_output"), ctx.schemas, ctx.res
        )
    fields: dict[str, Any] = dict(
        **common,
        persona=persona,
        persona_file=persona_file,
        persona_name=persona_name,
        policies=[t for r in w.refs(m, "policy", path) if (t := facets.resolve("policies", r))],
        knowledge=[
            t for r in w.refs(m, "knowledge", path) if (t := facets.resolve("knowledge", r))
        ],
        instruction=_instruction(ctx, m, path),
        edit=w.boolean(m, "edit", path),
        required_permission_mode=mode,
        allowed_tools=caps[1] if caps else [],
        capabilities=caps[0] if caps else [],
        session=session or "continue",
        session_key=_session_key(w, m, path),
        pass_previous_response=True if previous is None else previous,
        output_contracts=features.output_contracts(w, m, path, facets),
        quality_gates=texts,
        gate_commands=commands,
        allow_git_commit=git,
        delay_before_ms=w.integer(m, "delay_before_ms", path, minimum=0),
        structured_output=structured[1] if structured else None,
        structured_output_ref=structured[0] if structured else None,
        requires_user_input=bool(w.boolean(m, "requires_user_input", path)),
    )
    if m.get("completion_retry") is not None:
        fields["completion_retry"] = features.completion_retry(
            w, m["completion_retry"], at(path, "completion_retry"), facets
        )
    if m.get("dynamic_facets") is not None:
        fields["dynamic_facets"] = features.dynamic_facets(
            w, m["dynamic_facets"], at(path, "dynamic_facets"), facets, ctx.pools
        )
    if m.get("companion") is not None:
        fields["companion"] = parse_companion(
            w, m["companion"], at(path, "companion"), ctx.res, ctx.libraries
        )
    if team is not None:
        fields["team_leader"] = features.team_leader(w, team, at(path, "team_leader"), facets)
        fields["kind"] = "team_leader"
    members: list[Located] = []
    if is_parallel:
        here = _Parent(common["name"], caps, git, isinstance(parallel, dict))
        members, dynamic = _members(ctx, parallel, at(path, "parallel"), here)
        fields.update(kind="parallel", parallel=[x.movement for x in members], dynamic=dynamic)
        concurrency = w.integer(m, "concurrency", path)
        fields["concurrency"] = concurrency
    elif "concurrency" in m:
        w.error(at(path, "concurrency"), "only a parallel step has a concurrency")
    place: Place = "parallel" if is_parallel else ("member" if parent else "step")
    fields["rules"] = parse_rules(w, m, path, place)
    located = Located(Movement(**fields), path, parent.name if parent else None, role)
    located.members = members
    return located


def _session_key(w: Walker, m: dict, path: str) -> str | None:
    key = w.string(m, "session_key", path)
    if key is not None and not key.strip():
        w.error(at(path, "session_key"), "must not be empty")
        return None
    return key.strip() if key else None


def _members(
    ctx: Context, value: Any, path: str, parent: _Parent
) -> tuple[list[Located], DynamicParallel | None]:
    w = ctx.w
    if isinstance(value, list):
        if not value:
            w.error(path, "must list at least one sub-step")
        built = [_build(ctx, item, at(path, i), parent, None) for i, item in enumerate(value)]
        return [b for b in built if b is not None], None
    m = w.mapping(value, path, "a list of sub-steps or {fixed, pool, selection}")
    if m is None:
        return [], None
    features.strict_keys(w, m, DYNAMIC_PARALLEL_KEYS, path)
    fixed = [
        b
        for i, item in (
            enumerate(m.get("fixed") or []) if isinstance(m.get("fixed") or [], list) else []
        )
        if (b := _build(ctx, item, at(at(path, "fixed"), i), parent, "fixed")) is not None
    ]
    if m.get("fixed") is not None and not isinstance(m["fixed"], list):
        w.error(at(path, "fixed"), f"expected a list of sub-steps, got {describe(m['fixed'])}")
    pool_items = m.get("pool")
    if not isinstance(pool_items, list) or not pool_items:
        w.error(at(path, "pool"), "a dynamic parallel step needs at least one pool sub-step")
        pool_items = pool_items if isinstance(pool_items, list) else []
    pool = [
        b
        for i, item in enumerate(pool_items)
        if (b := _build(ctx, item, at(at(path, "pool"), i), parent, "pool")) is not None
    ]
    dynamic = DynamicParallel(
        fixed=[b.movement.name for b in fixed],
        pool=[b.movement.name for b in pool],
        pool_descriptions={b.movement.name: b.movement.description or "" for b in pool},
    )
    selection = m.get("selection")
    if selection is not None:
        spath = at(path, "selection")
        sm = w.mapping(selection, spath)
        if sm is not None:
            features.strict_keys(w, sm, SELECTION_KEYS, spath)
            mode = w.string(sm, "mode", spath)
            if mode is not None and mode not in ("replace", "cumulative"):
                w.error(at(spath, "mode"), 'selection mode is "replace" or "cumulative"')
                mode = None
            reports = w.strings(sm, "reports", spath)
            for i, name in enumerate(reports):
                why = features.report_name_problem(name)
                if why is not None:
                    w.error(at(at(spath, "reports"), i), f'report name "{name}" {why}')
            persona, persona_file, instruction = (None, False, None)
            if sm.get("selector") is not None:
                persona, persona_file, instruction = features.selector(
                    w, sm["selector"], at(spath, "selector"), ctx.facets
                )
            dynamic = dynamic.model_copy(
                update=dict(
                    mode=mode or "replace",
                    reports=reports,
                    selector_persona=persona,
                    selector_persona_file=persona_file,
                    selector_instruction=instruction,
                )
            )
    return [*fixed, *pool], dynamic
