"""A workflow step's optional blocks, each read and checked on its own.

Output contracts, quality gates (text and command), team_leader, completion_retry,
structured_output (with the workflow's ``schemas`` map), dynamic_facets and the system
step's ``system_inputs``/``effects``. Each function reports through the Walker and
returns the resolved value, or None when nothing usable is left.
"""

from __future__ import annotations

import re
from typing import Any

from pieces.model import CompletionRetry, DynamicFacets, OutputContract, QualityGate, TeamLeader
from pieces.parse import Walker, at, describe
from pieces.problems import did_you_mean
from pieces.workflow.facets import WorkflowFacets
from pieces.workflow.keys import (
    COMPLETION_RETRY_KEYS,
    CONTRACT_KEYS,
    DYNAMIC_FACETS_KEYS,
    EFFECTS,
    GATE_KEYS,
    MAX_COMPLETION_RETRY,
    PERMISSION_MODES,
    PR_WHERE_KEYS,
    SELECTOR_KEYS,
    SYSTEM_INPUTS,
    TEAM_LEADER_KEYS,
)
from pieces.workflow.resources import ResourceError, Resources

_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_TEMPLATE = re.compile(r"^\{(?:context|structured):[^.}]+(?:\.[^}]+)+\}$")
_EFFECT_TEMPLATE = re.compile(r"^\{effect:[^.}]+(?:\.[^}]+){2,}\}$")
RESERVED_REPORTS = ("resume-artifacts.json",)


def strict_keys(w: Walker, m: dict, known: frozenset[str], path: str) -> None:
    for key in m:
        if str(key) not in known:
            w.error(at(path, str(key)), "unknown key", did_you_mean(str(key), known))


def report_name_problem(name: str) -> str | None:
    """Why a report name is not a safe path inside the report folder, or None."""
    if not name or "\0" in name:
        return "must not be empty"
    if name != name.strip():
        return "must not start or end with whitespace"
    if "\\" in name:
        return "must use / as the separator"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "must be a relative path"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not contain empty, . or .. segments"
    if parts[0].casefold() == ".takt-report-internal" or parts[-1].casefold() in RESERVED_REPORTS:
        return "is reserved for TAKT's internal files"
    return None


def output_contracts(w: Walker, m: dict, path: str, facets: WorkflowFacets) -> list[OutputContract]:
    value = m.get("output_contracts")
    if value is None:
        return []
    where = at(path, "output_contracts")
    om = w.mapping(value, where)
    if om is None:
        return []
    strict_keys(w, om, frozenset({"report"}), where)
    out: list[OutputContract] = []
    seen: dict[str, str] = {}
    for cpath, item in w.items(om, "report", where):
        cm = w.mapping(item, cpath, "a report entry {name, format}")
        if cm is None:
            continue
        strict_keys(w, cm, CONTRACT_KEYS, cpath)
        name = w.string(cm, "name", cpath, required=True)
        fmt = w.ref(cm, "format", cpath)
        if "format" not in cm:
            w.error(at(cpath, "format"), "missing required key")
        use_judge = w.boolean(cm, "use_judge", cpath)
        order = w.ref(cm, "order", cpath)
        if name is None:
            continue
        why = report_name_problem(name)
        if why is not None:
            w.error(at(cpath, "name"), f'report name "{name}" {why}')
            continue
        identity = name.casefold()
        if identity in seen:
            w.error(at(cpath, "name"), f'report name "{name}" collides with "{seen[identity]}"')
        seen[identity] = name
        out.append(
            OutputContract(
                name=name,
                format=facets.resolve("output-contracts", fmt),
                order=facets.resolve("output-contracts", order),
                use_judge=True if use_judge is None else use_judge,
            )
        )
    return out


def quality_gates(w: Walker, m: dict, path: str) -> tuple[list[str], list[QualityGate]]:
    texts: list[str] = []
    commands: list[QualityGate] = []
    for gpath, item in w.items(m, "quality_gates", path):
        if isinstance(item, str):
            texts.append(item)
            continue
        gm = item if isinstance(item, dict) else None
        if gm is None or gm.get("type") != "command":
            w.error(gpath, "a quality gate is text or {type: command, command: ...}")
            continue
        strict_keys(w, gm, GATE_KEYS, gpath)
        command = w.string(gm, "command", gpath, required=True)
        cwd = w.string(gm, "cwd", gpath)
        if cwd is not None and (
            cwd.startswith(("/", "~")) or ".." in cwd.replace("\\", "/").split("/")
        ):
            w.error(at(gpath, "cwd"), "must be a relative path inside the job's workspace")
            cwd = None
        timeout = w.integer(gm, "timeout_ms", gpath)
        if command is not None:
            commands.append(
                QualityGate(
                    command=command,
                    name=w.string(gm, "name", gpath),
                    cwd=cwd,
                    timeout_ms=timeout or 300_000,
                )
            )
    return texts, commands


def team_leader(w: Walker, value: Any, path: str, facets: WorkflowFacets) -> TeamLeader | None:
    m = w.mapping(value, path)
    if m is None:
        return None
    w.unknown_keys(m, TEAM_LEADER_KEYS, path)
    if "max_parts" in m and "max_concurrency" in m:
        w.error(at(path, "max_concurrency"), "max_parts and max_concurrency cannot both be given")
    parts = 3
    for key in ("max_parts", "max_concurrency"):
        got = w.integer(m, key, path)
        if got is not None and got > 3:
            w.error(at(path, key), f"must be at most 3, got {got}")
        elif got is not None:
            parts = got
    refill = w.integer(m, "refill_threshold", path, minimum=0)
    if refill not in (None, 0):
        w.error(at(path, "refill_threshold"), "must be 0 in a workflow")
    mode = w.string(m, "part_permission_mode", path)
    if mode is not None and mode not in PERMISSION_MODES:
        w.error(at(path, "part_permission_mode"), f'unknown permission mode "{mode}"')
        mode = None
    persona, persona_file = facets.resolve_with_origin("personas", w.ref(m, "persona", path))
    part, part_file = facets.resolve_with_origin("personas", w.ref(m, "part_persona", path))
    return TeamLeader(
        persona=persona,
        persona_file=persona_file,
        max_parts=parts,
        refill_threshold=0,
        timeout_ms=w.integer(m, "timeout_ms", path) or 900_000,
        part_persona=part,
        part_persona_file=part_file,
        part_allowed_tools=w.strings(m, "part_allowed_tools", path)
        if "part_allowed_tools" in m
        else None,
        part_edit=w.boolean(m, "part_edit", path),
        part_permission_mode=mode,  # type: ignore[arg-type]
        initial_max_parts=w.integer(m, "initial_max_parts", path),
        fail_on_part_error=w.boolean(m, "fail_on_part_error", path),
        part_tags=w.strings(m, "part_tags", path),
        inspect_tools=w.strings(m, "inspect_tools", path) if "inspect_tools" in m else None,
    )


def completion_retry(
    w: Walker, value: Any, path: str, facets: WorkflowFacets
) -> CompletionRetry | None:
    m = w.mapping(value, path)
    if m is None:
        return None
    strict_keys(w, m, COMPLETION_RETRY_KEYS, path)
    low = w.integer(m, "min_retry", path, minimum=0)
    high = w.integer(m, "max_retry", path, minimum=0)
    if low is not None and low > MAX_COMPLETION_RETRY:
        w.error(at(path, "min_retry"), f"must be at most {MAX_COMPLETION_RETRY}, got {low}")
    low = 0 if low is None else low
    high = MAX_COMPLETION_RETRY if high is None else high
    if low > high:
        w.error(at(path, "min_retry"), "must be less than or equal to max_retry")
    ref = w.ref(m, "retry_instruction", path)
    if "retry_instruction" not in m:
        w.error(at(path, "retry_instruction"), "missing required key")
    text = facets.resolve("instructions", ref)
    return CompletionRetry(min_retry=low, max_retry=high, retry_instruction=text or "")


def structured_output(
    w: Walker, value: Any, path: str, schemas: dict[str, str], res: Resources
) -> tuple[str, dict] | None:
    m = w.mapping(value, path, "{schema_ref: <name>}")
    if m is None:
        return None
    w.unknown_keys(m, frozenset({"schema_ref"}), path)
    ref = w.string(m, "schema_ref", path, required=True)
    if ref is None:
        return None
    where = at(path, "schema_ref")
    name = schemas.get(ref, ref)
    if not _SCHEMA_NAME.match(name):
        w.error(where, f'invalid schema name "{name}": expected a bare name')
        return None
    try:
        file = res.find("schemas", name, (".json",))
        schema = res.cache.json(file) if file is not None else None
    except ResourceError as exc:
        w.error(where, f'schema "{name}": {exc}')
        return None
    if file is None:
        w.error(
            where,
            f'structured output schema "{ref}" was not found',
            f"searched {res.searched('schemas')}",
        )
        return None
    if not isinstance(schema, dict):
        w.error(where, f'schema "{name}" must be a JSON object')
        return None
    return ref, schema


def selector(
    w: Walker, value: Any, path: str, facets: WorkflowFacets
) -> tuple[str | None, bool, str | None]:
    """(persona, persona came from a file, instruction) of a selector."""
    m = w.mapping(value, path)
    if m is None:
        return None, False, None
    strict_keys(w, m, SELECTOR_KEYS, path)
    persona, persona_file = facets.resolve_with_origin("personas", w.ref(m, "persona", path))
    if "instruction" not in m:
        w.error(at(path, "instruction"), "missing required key")
    instruction = facets.resolve("instructions", w.ref(m, "instruction", path))
    return persona, persona_file, instruction


def dynamic_facets(
    w: Walker, value: Any, path: str, facets: WorkflowFacets, pools: dict
) -> DynamicFacets | None:
    m = w.mapping(value, path)
    if m is None:
        return None
    strict_keys(w, m, DYNAMIC_FACETS_KEYS, path)
    pool = w.string(m, "pool", path, required=True)
    most = w.integer(m, "max_selected", path)
    persona, persona_file, instruction = (None, False, None)
    if m.get("selector") is not None:
        persona, persona_file, instruction = selector(
            w, m["selector"], at(path, "selector"), facets
        )
    if pool is None:
        return None
    if pool not in pools:
        w.error(at(path, "pool"), f'unknown facet pool "{pool}"', did_you_mean(pool, pools))
        return None
    size = len(pools[pool].candidates)
    if most is not None and most > size:
        w.error(
            at(path, "max_selected"),
            f'max_selected ({most}) exceeds the {size} candidates of pool "{pool}"',
        )
    return DynamicFacets(
        pool=pool,
        max_selected=most,
        selector_persona=persona,
        selector_persona_file=persona_file,
        selector_instruction=instruction,
    )


def _reference(value: Any) -> bool:
    """An effect argument naming state: ``{context:…}``, ``{structured:…}``, ``{effect:…}``."""
    return isinstance(value, str) and bool(_TEMPLATE.match(value) or _EFFECT_TEMPLATE.match(value))


def system_inputs(w: Walker, m: dict, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    bound: set[str] = set()
    lists: list[Any] = []
    for ipath, item in w.items(m, "system_inputs", path):
        im = w.mapping(item, ipath)
        if im is None:
            continue
        kind = w.string(im, "type", ipath, required=True)
        if kind is None:
            continue
        if kind not in SYSTEM_INPUTS:
            w.error(
                at(ipath, "type"),
                f'unknown system input "{kind}"',
                did_you_mean(kind, SYSTEM_INPUTS),
            )
            continue
        source, extra = SYSTEM_INPUTS[kind]
        strict_keys(w, im, frozenset({"type", "source", "as", *extra}), ipath)
        if im.get("source") != source:
            w.error(at(ipath, "source"), f'{kind} reads source "{source}"')
        name = w.string(im, "as", ipath, required=True)
        if name is not None and name in bound:
            w.error(at(ipath, "as"), f'system input binding "{name}" is used twice in this step')
        if "where" in im:
            wm = w.mapping(im["where"], at(ipath, "where"))
            if wm is not None:
                strict_keys(w, wm, PR_WHERE_KEYS, at(ipath, "where"))
        if kind == "pr_list":
            lists.append(im.get("where"))
        if kind == "pr_selection" and lists and im.get("where") not in lists:
            w.error(
                at(ipath, "where"), "pr_selection.where must match a pr_list.where in this step"
            )
        selected = im.get("exclude_selected_from")
        if kind == "issue_list" and selected is not None and selected not in bound:
            w.error(
                at(ipath, "exclude_selected_from"),
                "must name an earlier issue_selection of this step",
            )
        if name is not None:
            bound.add(name)
        out.append(dict(im))
    return out


def effects(w: Walker, m: dict, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for epath, item in w.items(m, "effects", path):
        em = w.mapping(item, epath)
        if em is None:
            continue
        kind = w.string(em, "type", epath, required=True)
        if kind is None:
            continue
        if kind not in EFFECTS:
            w.error(at(epath, "type"), f'unknown effect "{kind}"', did_you_mean(kind, EFFECTS))
            continue
        if kind in seen:
            w.error(at(epath, "type"), f'effect "{kind}" is used twice in this step')
        seen.add(kind)
        required, optional = EFFECTS[kind]
        strict_keys(w, em, frozenset({"type", *required, *optional}), epath)
        for key in sorted(required):
            if key not in em:
                w.error(at(epath, key), "missing required key")
        pr = em.get("pr")
        if pr is not None and not (
            _reference(pr) or (isinstance(pr, int) and not isinstance(pr, bool) and pr > 0)
        ):
            w.error(
                at(epath, "pr"),
                f"expected a PR number or a {{context:…}} reference, got {describe(pr)}",
            )
        if kind == "enqueue_task":
            mode = em.get("mode")
            if mode not in ("new", "from_pr"):
                w.error(at(epath, "mode"), 'enqueue_task mode is "new" or "from_pr"')
            elif mode == "from_pr" and pr is None:
                w.error(at(epath, "pr"), 'enqueue_task mode "from_pr" requires "pr"')
            elif mode == "new" and pr is not None:
                w.error(at(epath, "pr"), 'enqueue_task mode "new" does not allow "pr"')
        out.append(dict(em))
    return out
