"""Named files of a workflow library, found along the search path and read once.

A v0.60 library is TAKT's own layout::

    workflows/<name>.yaml          workflows (and workflows/rules/<ref>.md, all_steps prose)
    steps/<name>.yaml              step fragments (`uses:`)
    facets/<kind>/<name>.md        facets, and facets/partials/<kind>/<name>.md (includes)
    facet-pools/<name>.yaml        candidates for dynamic_facets
    provider-options/<name>.yaml   capability sets (`capabilities:`)
    companions/<name>.yaml         advisory reviewers
    schemas/<name>.json            structured output schemas

A name is looked up in the workflow's own library, then along the search path; the
first library holding it wins. Every path is resolved (symlinks included) and must
stay inside the library it was found in. One ``FileCache`` serves a whole submission
(a workflow and everything it calls), so each file is read and parsed once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pieces.facets import PathEscape, inside, library_root_for
from pieces.problems import Problem
from pieces.yamlio import load_yaml

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
MAX_FILE_BYTES = 1024 * 1024


def safe_name(name: str) -> bool:
    """A bare name, or slash-separated bare segments; never ``..`` or an absolute path."""
    parts = name.split("/")
    return all(_SEGMENT.match(p) and ".." not in p for p in parts)


class ResourceError(ValueError):
    """A file exists but cannot be used (too big, unreadable, invalid, escaping)."""


class FileCache:
    """Texts and parsed YAML/JSON by resolved path, for one submission."""

    def __init__(self) -> None:
        self.texts: dict[Path, str] = {}
        self.data: dict[Path, Any] = {}
        # Name lookups (resolving paths is the expensive part of loading a workflow tree).
        self.found: dict[tuple, Path | None] = {}

    def text(self, path: Path) -> str:
        if path not in self.texts:
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise ResourceError(f"{path.name} is larger than {MAX_FILE_BYTES // 1024} KiB")
                self.texts[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ResourceError(f"cannot read {path.name}: {exc.__class__.__name__}") from None
        return self.texts[path]

    def yaml(self, path: Path) -> Any:
        if path not in self.data:
            data, problems, usable = load_yaml(self.text(path))
            errors = [p for p in problems if p.severity == "error"]
            if not usable or errors:
                raise ResourceError(f"{path.name}: {errors[0] if errors else 'unreadable YAML'}")
            self.data[path] = data
        return self.data[path]

    def json(self, path: Path) -> Any:
        if path not in self.data:
            try:
                self.data[path] = json.loads(self.text(path))
            except ValueError as exc:
                raise ResourceError(f"{path.name} is not valid JSON: {exc}") from None
        return self.data[path]


class Resources:
    """The libraries one workflow sees, in search order, and what they hold."""

    def __init__(self, own: Path | None, libraries: Sequence[Path], cache: FileCache) -> None:
        self.cache = cache
        seen: set[Path] = set()
        self.roots: list[Path] = []
        for lib in [*([own] if own is not None else []), *libraries]:
            try:
                key = lib.resolve()
            except OSError:
                continue
            if key not in seen and lib.is_dir():
                seen.add(key)
                self.roots.append(lib)
        self.libraries = list(libraries)

    @classmethod
    def for_file(
        cls, piece_dir: Path | None, libraries: Sequence[Path], cache: FileCache
    ) -> Resources:
        own = library_root_for(piece_dir) if piece_dir is not None else None
        return cls(own, libraries, cache)

    def find(self, folder: str, name: str, suffixes: Sequence[str]) -> Path | None:
        """``<library>/<folder>/<name><suffix>`` in the first library that has it."""
        if not safe_name(name):
            return None
        key = ("find", tuple(self.roots), folder, name, tuple(suffixes))
        if key not in self.cache.found:
            self.cache.found[key] = self._find(folder, name, suffixes)
        return self.cache.found[key]

    def _find(self, folder: str, name: str, suffixes: Sequence[str]) -> Path | None:
        for root in self.roots:
            for suffix in suffixes:
                rel = Path(folder, f"{name}{suffix}")
                if not (root / rel).is_file():
                    continue
                try:
                    return inside(root, rel)
                except PathEscape:
                    raise ResourceError(f'"{name}" escapes its library folder') from None
        return None

    def searched(self, folder: str) -> str:
        return ", ".join(str(root / folder) for root in self.roots) or "no library"

    def names(self, folder: str, suffixes: Sequence[str]) -> list[str]:
        found: dict[str, None] = {}
        for root in self.roots:
            path = root / folder
            if path.is_dir():
                for item in sorted(path.iterdir()):
                    if item.suffix in suffixes:
                        found.setdefault(item.stem)
        return list(found)

    def problem(self, path: str, exc: ResourceError) -> Problem:
        return Problem(path, str(exc))
