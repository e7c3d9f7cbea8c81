"""Facet resolution: section keys, facet names by kind, and paths relative to the piece file.

The only file reading in ``pieces`` besides the piece itself happens here. Every path is
resolved (symlinks included) and must stay inside its base folder: the piece file's
library for relative paths, the library being searched for facet names.
"""

from __future__ import annotations

import re
from pathlib import Path

from pieces.problems import Problem, closest
from pieces.schema import SECTION_OF_KIND, Ref

KIND_NOUN = {
    "personas": "persona",
    "policies": "policy",
    "knowledge": "knowledge",
    "instructions": "instruction",
    "output-contracts": "report format",
}

_NAME = re.compile(r"^[\w-]+(?:\.[\w-]+)*$")
_PATH_SUFFIXES = (".md", ".markdown", ".txt")
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


def classify(value: str) -> str:
    """'inline', 'path' or 'name': how a facet reference should be read."""
    text = value.strip()
    if "\n" in text:
        return "inline"
    lowered = text.lower()
    if lowered.endswith(_PATH_SUFFIXES) or text.startswith(("./", "../", "/", "~", ".\\")):
        return "path"
    if any(ch.isspace() for ch in text):
        return "inline"
    if "/" in text or "\\" in text:
        return "path"
    return "name" if _NAME.match(text) else "inline"


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
        self._section_texts: dict[tuple[str, str], str | None] = {}
        for kind, entries in sections.items():
            for key, ref in entries.items():
                self._section_texts[(kind, key)] = self._section_entry(ref)

    def _error(self, ref: Ref, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(ref.path, message, hint, "error"))

    def _section_entry(self, ref: Ref) -> str | None:
        if "\n" in ref.value.strip():
            return ref.value.strip()
        return self._read_relative(ref)

    def _read_relative(self, ref: Ref) -> str | None:
        rel = ref.value.strip()
        if self.piece_dir is None or self.base is None:
            self._error(ref, f'cannot resolve path "{rel}"', "the piece has no file location")
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
            self._error(ref, f'file "{rel}" not found', "paths are relative to the piece file")
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
        """The text a reference stands for, or None (with a problem recorded)."""
        if ref is None:
            return None
        value = ref.value.strip()
        if not value:
            self._error(ref, "must not be empty")
            return None
        if (kind, value) in self._section_texts:
            return self._section_texts[(kind, value)]
        how = classify(value)
        if how == "inline":
            return value
        if how == "path":
            return self._read_relative(ref)
        return self._by_name(kind, ref, value)

    def _by_name(self, kind: str, ref: Ref, name: str) -> str | None:
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
        suggestion = closest(name, self.names(kind))
        section = SECTION_OF_KIND[kind]
        hint = (
            f'did you mean "{suggestion}"?'
            if suggestion
            else f"not a key of {section} and no facets/{kind}/{name}.md in any library"
        )
        self._error(ref, f'{KIND_NOUN[kind]} "{name}" not found', hint)
        return None
