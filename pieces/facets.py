"""Facet resolution: section keys, facet names by kind, and paths relative to the piece file.

The only file reading in ``pieces`` besides the piece itself happens here. Every path is
resolved (symlinks included) and must stay inside its base folder: the piece file's
library for relative paths, the library being searched for facet names.
"""

from __future__ import annotations

import re
from pathlib import Path

from pieces.problems import Problem, closest
from pieces.schema import Ref

KIND_NOUN = {
    "personas": "persona",
    "policies": "policy",
    "knowledge": "knowledge",
    "instructions": "instruction",
    "output-contracts": "report format",
}

_NAME = re.compile(r"^[\w-]+(?:\.[\w-]+)*$")
MAX_FACET_BYTES = 256 * 1024


class PathEscape(ValueError):
    pass


def library_root_for(piece_dir: Path) -> Path:
    """A piece in ``<lib>/pieces/`` belongs to ``<lib>``; a loose file to its own folder."""
    return piece_dir.parent if piece_dir.name == "pieces" else piece_dir


def inside(base: Path, rel: str | Path, start: Path | None = None) -> Path:
    """``start/rel`` fully resolved; raises PathEscape unless it stays under ``base``."""
    root = base.resolve()
    target = ((start or base) / rel).resolve()
    if target != root and not target.is_relative_to(root):
        raise PathEscape(str(rel))
    return target


def is_path(value: str) -> bool:
    """TAKT's test for a resource path: ``./``, ``../``, ``/``, ``~``, or ending in ``.md``."""
    return value.startswith(("./", "../", "/", "~")) or value.endswith(".md")


class FacetResolver:
    """Resolves references for one piece, recording problems instead of raising."""

    def __init__(
        self,
        piece_dir: Path | None,
        libraries: list[Path],
        sections: dict[str, dict[str, Ref]],
        problems: list[Problem],
    ) -> None:
        self.piece_dir = piece_dir
        self.base = library_root_for(piece_dir) if piece_dir is not None else None
        own = [self.base] if self.base is not None else []
        seen: set[Path] = set()
        self.libraries: list[Path] = []
        for lib in [*own, *libraries]:
            key = lib.resolve()
            if key not in seen and lib.is_dir():
                seen.add(key)
                self.libraries.append(lib)
        self.sections = sections
        self.problems = problems
        self._section_texts: dict[tuple[str, str], tuple[str, bool]] = {}
        for kind, entries in sections.items():
            for key, ref in entries.items():
                self._section_texts[(kind, key)] = self._section_entry(ref)

    def _error(self, ref: Ref, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(ref.path, message, hint, "error"))

    def _section_entry(self, ref: Ref) -> tuple[str, bool]:
        # A section value is a file when it names an existing .md file, else inline text.
        value = ref.value.strip()
        if value.endswith(".md"):
            text = self._read_path(ref, value)
            if text is not None:
                return text, True
        return value, False

    def _read_path(self, ref: Ref, rel: str) -> str | None:
        """The file's text, or None when there is no such file. Escapes are errors."""
        if self.piece_dir is None or self.base is None:
            return None
        if rel.startswith("~") or Path(rel).is_absolute():
            self._error(ref, f'path "{rel}" escapes its base folder', "use a relative path")
            return None
        try:
            target = inside(self.base, rel, start=self.piece_dir)
        except PathEscape:
            self._error(
                ref, f'path "{rel}" escapes its base folder', "paths must stay inside the library"
            )
            return None
        if not target.is_file():
            return None
        return self._read(ref, target)

    def _read(self, ref: Ref, target: Path) -> str | None:
        try:
            if target.stat().st_size > MAX_FACET_BYTES:
                self._error(ref, f"facet file is larger than {MAX_FACET_BYTES // 1024} KiB")
                return None
            return target.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            self._error(ref, f"cannot read facet file: {exc.__class__.__name__}")
            return None

    def names(self, kind: str) -> list[str]:
        """Every name a reference of this kind could use (section keys, then facet files)."""
        found = list(self.sections.get(kind, {}))
        for lib in self.libraries:
            folder = lib / "facets" / kind
            if folder.is_dir():
                found += sorted(p.stem for p in folder.glob("*.md"))
        return list(dict.fromkeys(found))

    def resolve(self, kind: str, ref: Ref | None) -> str | None:
        """The text a reference stands for, resolved as TAKT resolves it (SEMANTICS.md §7.1).

        A section key, then a path relative to the piece file, then a facet name in the
        libraries; a reference that resolves nowhere is used as literal text (that is why
        ``format: report`` works in TAKT). A missing path is worth a warning.
        """
        text, _ = self.resolve_with_origin(kind, ref)
        return text

    def resolve_with_origin(self, kind: str, ref: Ref | None) -> tuple[str | None, bool]:
        """(text, came from a file)."""
        if ref is None:
            return None, False
        value = ref.value.strip()
        if not value:
            self._error(ref, "must not be empty")
            return None, False
        if (kind, value) in self._section_texts:
            return self._section_texts[(kind, value)]
        if is_path(value):
            text = self._read_path(ref, value)
            if text is not None:
                return text, True
            if not any(p.path == ref.path and p.severity == "error" for p in self.problems):
                self.problems.append(
                    Problem(
                        ref.path,
                        f'file "{value}" not found; the text itself is used, as TAKT does',
                        "paths are relative to the piece file",
                        "warning",
                    )
                )
            return value, False
        found = self._by_name(kind, ref, value)
        if found is not None:
            return found, True
        if _NAME.match(value) and (near := closest(value, self.names(kind))):
            # Used as literal text, as TAKT does; but a near miss is most likely a typo.
            self.problems.append(
                Problem(
                    ref.path,
                    f'{KIND_NOUN[kind]} "{value}" is not a facet; the text itself is used',
                    f'did you mean "{near}"?',
                    "warning",
                )
            )
        return value, False

    def _by_name(self, kind: str, ref: Ref, name: str) -> str | None:
        if not _NAME.match(name):
            return None
        for lib in self.libraries:
            rel = Path("facets", kind, f"{name}.md")
            if not (lib / rel).exists():
                continue
            try:
                target = inside(lib, rel)
            except PathEscape:
                self._error(ref, f'{KIND_NOUN[kind]} "{name}" escapes its library folder')
                return None
            if target.is_file():
                return self._read(ref, target)
        return None
