"""``facet_pools``: candidates a ``dynamic_facets`` selector may add to a step.

A pool is inline (``{policies, knowledge, candidates}``, its section maps merged over
the workflow's, the pool's winning) or ``{uses: <name>}`` for
``facet-pools/<name>.yaml``, whose section paths are relative to the pool file. Each
candidate has an id, a description for the selector, and a policy and/or knowledge
reference that must name a real facet file: a candidate's facets are never literal text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pieces.model import FacetCandidate, FacetPool
from pieces.parse import Walker, at
from pieces.schema import Ref
from pieces.workflow.facets import WorkflowFacets
from pieces.workflow.keys import CANDIDATE_KEYS, FACET_POOL_KEYS
from pieces.workflow.resources import ResourceError, Resources

FOLDER = "facet-pools"


def _sections(w: Walker, m: dict, path: str) -> dict[str, dict[str, Ref]]:
    out: dict[str, dict[str, Ref]] = {}
    for kind in ("policies", "knowledge"):
        value = m.get(kind)
        if value is None:
            continue
        sm = w.mapping(value, at(path, kind), "a mapping of name to file path")
        entries = {}
        for key, item in (sm or {}).items():
            where = at(at(path, kind), str(key))
            if isinstance(item, str) and item.strip():
                entries[str(key)] = Ref(value=item, path=where)
            else:
                w.error(where, "expected a file path")
        out[kind] = entries
    return out


def _candidates(
    w: Walker, m: dict, path: str, facets: WorkflowFacets, label: str
) -> list[FacetCandidate]:
    items = w.items(m, "candidates", path)
    if not items:
        w.error(at(path, "candidates"), "a facet pool needs at least one candidate")
    out: list[FacetCandidate] = []
    seen: set[str] = set()
    for cpath, item in items:
        cm = w.mapping(item, cpath)
        if cm is None:
            continue
        for key in cm:
            if key not in CANDIDATE_KEYS:
                w.error(at(cpath, str(key)), "unknown key")
        before = len(w.problems)
        cid = w.string(cm, "id", cpath, required=True)
        description = w.string(cm, "description", cpath, required=True)
        if cid is not None and cid in seen:
            w.error(at(cpath, "id"), f'candidate id "{cid}" is used twice in this pool')
        if cid is not None:
            seen.add(cid)
        if "policy" not in cm and "knowledge" not in cm:
            w.error(cpath, 'a facet pool candidate needs a "policy" or "knowledge"')
        texts: dict[str, list[str]] = {}
        for key, kind in (("policy", "policies"), ("knowledge", "knowledge")):
            texts[kind] = []
            for ref in w.refs(cm, key, cpath):
                text, from_file = facets.resolve_with_origin(kind, ref)
                if not from_file or text is None:
                    w.error(
                        ref.path,
                        f'{label} candidate "{cid}" names unknown {key} "{ref.value}"',
                        "pool facets must be files or section entries naming files",
                    )
                else:
                    texts[kind].append(text)
        if len(w.problems) == before:
            out.append(
                FacetCandidate(
                    id=cid or "",
                    description=description or "",
                    policies=texts["policies"],
                    knowledge=texts["knowledge"],
                )
            )
    return out


def parse_pools(
    w: Walker,
    value: Any,
    facets: WorkflowFacets,
    res: Resources,
    libraries: list[Path],
) -> dict[str, FacetPool]:
    if value is None:
        return {}
    pm = w.mapping(value, "facet_pools", "a mapping of pool name to pool")
    pools: dict[str, FacetPool] = {}
    for name, pool in (pm or {}).items():
        path = at("facet_pools", str(name))
        m = w.mapping(pool, path)
        if m is None:
            continue
        if "uses" in m:
            extra = [k for k in m if k != "uses"]
            if extra:
                w.error(at(path, str(extra[0])), '"uses" cannot be combined with an inline pool')
                continue
            found = _external(w, m, path, res, libraries)
        else:
            for key in m:
                if key not in FACET_POOL_KEYS:
                    w.error(at(path, str(key)), "unknown key")
            sections = {**facets.sections}
            for kind, entries in _sections(w, m, path).items():
                sections[kind] = {**sections.get(kind, {}), **entries}
            local = WorkflowFacets(facets.piece_dir, libraries, sections, w.problems, facets.cache)
            found = FacetPool(candidates=_candidates(w, m, path, local, f'pool "{name}"'))
        if found is not None:
            pools[str(name)] = found
    return pools


def _external(
    w: Walker, m: dict, path: str, res: Resources, libraries: list[Path]
) -> FacetPool | None:
    ref = w.string(m, "uses", path, required=True)
    if ref is None:
        return None
    where = at(path, "uses")
    try:
        file = res.find(FOLDER, ref, (".yaml", ".yml"))
        data = res.cache.yaml(file) if file is not None else None
    except ResourceError as exc:
        w.error(where, f'facet pool "{ref}": {exc}')
        return None
    if file is None:
        w.error(where, f'facet pool "{ref}" was not found (searched: {res.searched(FOLDER)})')
        return None
    inner = Walker()
    pm = inner.mapping(data, "", "a facet pool mapping")
    if pm is None:
        w.error(where, f'facet pool "{ref}" must be a mapping')
        return None
    for key in pm:
        if key not in FACET_POOL_KEYS:
            inner.error(str(key), "unknown key")
    facets = WorkflowFacets(
        file.parent, libraries, _sections(inner, pm, ""), inner.problems, res.cache
    )
    pool = FacetPool(candidates=_candidates(inner, pm, "", facets, f'pool file "{ref}"'))
    for problem in inner.problems:
        text = f"{problem.path}: {problem.message}" if problem.path else problem.message
        w.problems.append(
            problem.model_copy(update={"path": where, "message": f"facet pool {ref}: {text}"})
        )
    return pool
