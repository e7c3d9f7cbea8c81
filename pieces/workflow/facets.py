"""Facet resolution for workflows: the piece resolver plus TAKT v0.60's facet inheritance
and facet includes.

A facet file may start from another of its kind: a line ``{extends:plan}`` is replaced
by the facet ``plan`` (its own inheritance expanded first), looked up from the file's
own library onwards and never the file itself, so a library can refine a facet of the
same name further down the search path. A facet may also say
``{{include:instructions/base-plan}}``: that is replaced by
``facets/partials/instructions/base-plan.md`` from the first library (starting with the
including file's own) that has it, includes expanded in turn. Inheritance comes first,
then includes. A cycle, a missing parent or partial, or a malformed directive is an
error at the reference that led to the file. Files are read through the submission's
``FileCache``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pieces.facets import _NAME, KIND_NOUN, FacetResolver, PathEscape, inside, is_path
from pieces.problems import Problem
from pieces.schema import Ref
from pieces.workflow.resources import FileCache, ResourceError

_INCLUDE = re.compile(r"\{\{\s*include\s*:\s*([^}]*)\}\}")
_PARTIAL_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_EXTENDS_LIKE = re.compile(r"\{\s*extends\s*:[^}]*\}")
_EXTENDS_LINE = re.compile(r"^[ \t]*\{extends:\s*([^}]+?)\s*\}[ \t]*$", re.MULTILINE)
_BARE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
FACET_KINDS = ("personas", "policies", "knowledge", "instructions", "output-contracts")
PARTIAL_KINDS = ("instructions", "policies", "knowledge", "output-contracts")
MAX_INCLUDE_DEPTH = 16
MAX_INCLUDES = 2000  # per workflow: TAKT's builtins need a few hundred
_ESCAPES = Path("/")  # a lookup result meaning "the name points out of its library"


class IncludeError(ValueError):
    pass


class WorkflowFacets(FacetResolver):
    def __init__(self, piece_dir, libraries, sections, problems, cache: FileCache) -> None:
        self.cache = cache
        self.includes_left = MAX_INCLUDES
        self._resolved_libraries: list[Path] | None = None
        self._kind: str | None = None
        self._section_kinds = {
            ref.path: kind for kind, entries in sections.items() for ref in entries.values()
        }
        super().__init__(piece_dir, libraries, sections, problems)

    @property
    def _resolved(self) -> list[Path]:
        if self._resolved_libraries is None:
            self._resolved_libraries = [lib.resolve() for lib in self.libraries]
        return self._resolved_libraries

    def resolve_with_origin(self, kind: str, ref: Ref | None) -> tuple[str | None, bool]:
        self._kind = kind  # what an {extends:…} in the file resolves against
        return super().resolve_with_origin(kind, ref)

    def _kind_of(self, target: Path, ref: Ref) -> str | None:
        folder = target.parent
        if folder.name in FACET_KINDS and folder.parent.name == "facets":
            return folder.name
        return self._section_kinds.get(ref.path, self._kind)

    def _read(self, ref: Ref, target: Path) -> str | None:
        kind = self._kind_of(target, ref)
        key = ("expanded", target, kind)
        if key in self.cache.found:
            return self.cache.found[key]  # type: ignore[return-value]
        try:
            text = self._inherit(self.cache.text(target), target, kind, [])
            if "{{" in text:
                text = self._expand(text, target, [target])
        except ResourceError as exc:
            self.problems.append(Problem(ref.path, str(exc)))
            return None
        except IncludeError as exc:
            self.problems.append(Problem(ref.path, str(exc)))
            return None
        self.cache.found[key] = text.strip()  # type: ignore[assignment]
        return text.strip()

    def _inherit(self, text: str, target: Path, kind: str | None, stack: list[Path]) -> str:
        like = _EXTENDS_LIKE.findall(text)
        if not like:
            if "{extends:" in text:
                raise IncludeError(f"malformed facet extends directive in {target.name}")
            return text
        lines = list(_EXTENDS_LINE.finditer(text))
        if len(lines) != len(like):
            raise IncludeError(
                f"a facet extends directive must be on its own line in {target.name}"
            )
        if len(lines) > 1:
            raise IncludeError(f"{target.name} contains more than one extends directive")
        line = lines[0]
        parent = line.group(1).strip()
        if not _BARE.match(parent):
            raise IncludeError(f'facet extends parent "{parent}" must be a bare facet name')
        if target in stack or len(stack) > MAX_INCLUDE_DEPTH:
            chain = " -> ".join(p.stem for p in [*stack, target])
            raise IncludeError(f"facet inheritance cycle: {chain}")
        found = self._parent(parent, kind, target)
        if found is None:
            raise IncludeError(f'facet extends parent "{parent}" not found for {target.name}')
        body = self._inherit(self.cache.text(found), found, kind, [*stack, target])
        return text[: line.start()] + body + text[line.end() :]

    def _parent(self, name: str, kind: str | None, source: Path) -> Path | None:
        if kind is None:
            return None
        start = next((i for i, lib in enumerate(self._resolved) if source.is_relative_to(lib)), 0)
        for lib in self.libraries[start:]:
            rel = Path("facets", kind, f"{name}.md")
            if not (lib / rel).is_file():
                continue
            try:
                found = inside(lib, rel)
            except PathEscape:
                raise IncludeError(f'facet "{name}" escapes its library') from None
            if found != source:
                return found
        return None

    def _by_name(self, kind: str, ref: Ref, name: str) -> str | None:
        # The piece resolver's lookup, its result remembered for the whole submission.
        if not _NAME.match(name):
            return None
        key = ("facet", tuple(self.libraries), kind, name)
        if key not in self.cache.found:
            self.cache.found[key] = self._locate(kind, name)
        path = self.cache.found[key]
        if path == _ESCAPES:
            self.problems.append(
                Problem(ref.path, f'{KIND_NOUN[kind]} "{name}" escapes its library folder')
            )
            return None
        return self._read(ref, path) if path is not None else None

    def _locate(self, kind: str, name: str) -> Path | None:
        for lib in self.libraries:
            rel = Path("facets", kind, f"{name}.md")
            if not (lib / rel).exists():
                continue
            try:
                target = inside(lib, rel)
            except PathEscape:
                return _ESCAPES
            if target.is_file():
                return target
        return None

    def _partial(self, raw: str, source: Path) -> Path:
        key = ("partial", tuple(self.libraries), raw.strip(), source)
        if key not in self.cache.found:
            self.cache.found[key] = self._find_partial(raw, source)
        return self.cache.found[key]  # type: ignore[return-value]

    def _find_partial(self, raw: str, source: Path) -> Path:
        ref = raw.strip()
        kind, _, name = ref.partition("/")
        if kind not in PARTIAL_KINDS or not _PARTIAL_NAME.match(name):
            raise IncludeError(
                f'invalid facet include "{ref}": expected {{{{include:<kind>/<name>}}}}'
            )
        start = next((i for i, lib in enumerate(self._resolved) if source.is_relative_to(lib)), 0)
        for lib in self.libraries[start:]:
            rel = Path("facets", "partials", kind, f"{name}.md")
            if (lib / rel).is_file():
                try:
                    return inside(lib, rel)
                except PathEscape:
                    raise IncludeError(f'facet include "{ref}" escapes its library') from None
        raise IncludeError(f'missing facet include "{ref}" (facets/partials/{kind}/{name}.md)')

    def _expand(self, text: str, source: Path, stack: list[Path]) -> str:
        if len(stack) > MAX_INCLUDE_DEPTH:
            raise IncludeError(f"facet includes nest deeper than {MAX_INCLUDE_DEPTH}")
        out, cursor = [], 0
        for m in _INCLUDE.finditer(text):
            self.includes_left -= 1
            if self.includes_left < 0:
                raise IncludeError(f"more than {MAX_INCLUDES} facet includes")
            path = self._partial(m.group(1), source)
            if path in stack:
                chain = " -> ".join(p.stem for p in [*stack[stack.index(path) :], path])
                raise IncludeError(f"cyclic facet include: {chain}")
            try:
                body = self.cache.text(path)
            except ResourceError as exc:
                raise IncludeError(str(exc)) from None
            out += [text[cursor : m.start()], self._expand(body, path, [*stack, path])]
            cursor = m.end()
        out.append(text[cursor:])
        return "".join(out)

    def exists(self, kind: str, value: str) -> bool:
        """Whether a reference names a section key or a facet file (no literal fallback)."""
        if (kind, value) in self._section_texts:
            return True
        if is_path(value):
            if self.piece_dir is None or self.base is None or value.startswith("~"):
                return False
            try:
                return inside(self.base, value, start=self.piece_dir).is_file()
            except (PathEscape, OSError):
                return False
        if not _NAME.match(value):
            return False
        return any((lib / "facets" / kind / f"{value}.md").is_file() for lib in self.libraries)
