"""``companion:``: advisory reviewers that watch a step while it runs (TAKT v0.60).

A step names companions as a list (all fixed) or ``{fixed, pool, moderator}``; each
name is ``companions/<name>.yaml`` (``name``, ``description``, and facet names for
``persona``, ``policy``, ``knowledge`` and ``instruction``, the last defaulting to
``companion-watch-review``; ``interval_ms`` defaults to 15 s). legato resolves them
when the workflow is loaded and keeps them on the step; how they run is the engine's.
Companion state may not steer transitions (``when(companion.…)`` is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pieces.model import Companion, CompanionSpec
from pieces.parse import Walker, at, describe
from pieces.schema import Ref
from pieces.workflow.facets import WorkflowFacets
from pieces.workflow.keys import (
    COMPANION_DEFAULT_INSTRUCTION,
    COMPANION_FILE_KEYS,
    COMPANION_SELECTION_KEYS,
    MAX_COMPANION_INTERVAL_MS,
)
from pieces.workflow.resources import ResourceError, Resources

FOLDER = "companions"


class CompanionError(ValueError):
    pass


def _names(w: Walker, value: Any, path: str) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        w.error(path, f"expected a list of companion names, got {describe(value)}")
        return None
    return [v.strip() for v in value]


def parse_companion(
    w: Walker, value: Any, path: str, res: Resources, libraries: list[Path]
) -> CompanionSpec | None:
    if isinstance(value, list):
        if not value:
            w.error(path, "list at least one companion")
            return None
        fixed, pool, moderator = _names(w, value, path), [], None
    else:
        m = w.mapping(value, path, "a list of companions or {fixed, pool, moderator}")
        if m is None:
            return None
        for key in m:
            if key not in COMPANION_SELECTION_KEYS:
                w.error(at(path, str(key)), "unknown key")
        fixed = _names(w, m.get("fixed", []), at(path, "fixed"))
        pool = _names(w, m.get("pool", []), at(path, "pool"))
        moderator = w.string(m, "moderator", path)
        if fixed is not None and pool is not None and not fixed and not pool:
            w.error(path, "a companion selection needs at least one fixed or pool companion")
        if moderator is not None and moderator in [*(fixed or []), *(pool or [])]:
            w.error(at(path, "moderator"), "the moderator cannot also be a fixed or pool reviewer")
    if fixed is None or pool is None:
        return None
    loader = _Loader(res, libraries)

    def load(name: str, where: str) -> Companion | None:
        try:
            return loader.load(name)
        except CompanionError as exc:
            w.error(where, str(exc))
            return None

    spec = CompanionSpec(
        fixed=[
            c
            for n in fixed
            if (c := load(n, at(path, "fixed") if isinstance(value, dict) else path))
        ],
        pool=[c for n in pool if (c := load(n, at(path, "pool")))],
        moderator=load(moderator, at(path, "moderator")) if moderator else None,
    )
    return spec


class _Loader:
    def __init__(self, res: Resources, libraries: list[Path]) -> None:
        self.res = res
        self.libraries = libraries

    def load(self, name: str) -> Companion:
        try:
            file = self.res.find(FOLDER, name, (".yaml", ".yml"))
            data = self.res.cache.yaml(file) if file is not None else None
        except ResourceError as exc:
            raise CompanionError(f'companion "{name}": {exc}') from None
        if file is None:
            raise CompanionError(
                f'unknown companion "{name}" (searched: {self.res.searched(FOLDER)})'
            )
        if not isinstance(data, dict):
            raise CompanionError(f'companion "{name}" must be a mapping')
        for key in data:
            if key not in COMPANION_FILE_KEYS:
                raise CompanionError(f'companion "{name}": unknown key "{key}"')
        declared = data.get("name")
        if declared != name:
            raise CompanionError(
                f'companion reference "{name}" does not match its name "{declared}"'
            )
        description = data.get("description")
        if not isinstance(description, str) or not description.strip():
            raise CompanionError(f'companion "{name}" needs a description')
        interval = data.get("interval_ms", 15_000)
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int)
            or not 0 < interval <= MAX_COMPANION_INTERVAL_MS
        ):
            raise CompanionError(f'companion "{name}": interval_ms must be a positive integer')
        problems: list = []
        facets = WorkflowFacets(file.parent, self.libraries, {}, problems, self.res.cache)

        def facet(kind: str, ref: str) -> tuple[str, bool]:
            text, from_file = facets.resolve_with_origin(kind, Ref(value=ref, path=name))
            if not from_file or text is None:
                raise CompanionError(f'companion "{name}" names unknown {kind} facet "{ref}"')
            return text, from_file

        def listed(key: str, kind: str) -> list[str]:
            value = data.get(key)
            refs = [value] if isinstance(value, str) else value or []
            if not isinstance(refs, list) or not all(isinstance(r, str) and r for r in refs):
                raise CompanionError(f'companion "{name}": {key} must be a name or a list')
            return [facet(kind, r)[0] for r in refs]

        persona, persona_file = (None, False)
        if data.get("persona") is not None:
            persona, persona_file = facet("personas", str(data["persona"]))
        instruction = data.get("instruction") or COMPANION_DEFAULT_INSTRUCTION
        companion = Companion(
            name=name,
            description=description.strip(),
            persona=persona,
            persona_file=persona_file,
            policies=listed("policy", "policies"),
            knowledge=listed("knowledge", "knowledge"),
            instruction=facet("instructions", str(instruction))[0],
            interval_ms=interval,
        )
        if problems:
            raise CompanionError(f'companion "{name}": {problems[0]}')
        return companion
