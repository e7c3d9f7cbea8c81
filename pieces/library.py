"""Piece libraries on a search path: finding pieces and workflows by name, loading them.

A library is a folder with ``pieces/*.yaml`` (TAKT 0.31 pieces) and/or
``workflows/*.yaml`` (TAKT v0.60 workflows, with ``steps/``, ``facet-pools/``,
``provider-options/``, ``companions/``, ``schemas/`` and ``workflows/rules/``), and
``facets/<kind>/*.md``. Search order: the file's own library, the owner's, each
PIECES_PATH entry, then the built-in one. A name is found in the first library that
holds it; within one library ``pieces/`` comes before ``workflows/``.

Which dialect a file is read in depends on its content: a top-level ``steps:`` makes
it a workflow, ``movements:`` a piece; a file with neither is read in the dialect of
the folder it is in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pieces.facets import FacetResolver, PathEscape, inside
from pieces.limits import MAX_MOVEMENTS, MAX_RULES, shape_problems
from pieces.model import Piece
from pieces.parse import parse_piece
from pieces.problems import (
    PieceInvalid,
    PieceNotFound,
    Problem,
    ValidationReport,
    closest,
    hint_budget,
)
from pieces.resolve import build_piece
from pieces.validate import check_raw, check_resolved
from pieces.workflow.compile import Session, compile_workflow
from pieces.yamlio import load_yaml

__all__ = ["BUILTIN_DIR", "MAX_MOVEMENTS", "MAX_RULES", "PieceLibrary", "compile_piece"]

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
_SUFFIXES = (".yaml", ".yml")
MAX_PIECE_BYTES = 1024 * 1024
# Where a library keeps each dialect's files, in the order a name is looked up.
FOLDERS = ("pieces", "workflows")


def _safe(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def compile_piece(
    text: str,
    piece_dir: Path | None,
    libraries: Sequence[Path],
    default_name: str | None = None,
    source: str | None = None,
) -> tuple[Piece | None, ValidationReport]:
    """Parse, check and resolve one piece or workflow; None whenever there are errors."""
    with hint_budget():
        return _compile(text, piece_dir, libraries, default_name, source)


def dialect_of(data: object, piece_dir: Path | None) -> str:
    """ "workflow" for a top-level ``steps:``, "piece" for ``movements:``, else the folder's."""
    if isinstance(data, dict):
        if "steps" in data:
            return "workflow"
        if "movements" in data:
            return "piece"
    return "workflow" if piece_dir is not None and piece_dir.name == "workflows" else "piece"


def _compile(
    text: str,
    piece_dir: Path | None,
    libraries: Sequence[Path],
    default_name: str | None,
    source: str | None,
) -> tuple[Piece | None, ValidationReport]:
    if len(text.encode("utf-8", "replace")) > MAX_PIECE_BYTES:
        word = dialect_of(None, piece_dir)
        problem = Problem("", f"{word} is larger than {MAX_PIECE_BYTES // 1024} KiB")
        return None, ValidationReport(source=source, problems=[problem])
    data, problems, usable = load_yaml(text)
    if usable:
        problems += shape_problems(data)
    if not usable or (problems and any(p.severity == "error" for p in problems)):
        return None, ValidationReport(source=source, problems=problems)
    if dialect_of(data, piece_dir) == "workflow":
        return _compile_workflow(data, problems, piece_dir, libraries, default_name, source)
    raw, found = parse_piece(data)
    problems += found
    if raw.name and default_name and raw.name != default_name:
        problems.append(
            Problem(
                "name",
                f'"{raw.name}" differs from the file name "{default_name}"',
                "the piece is found by its file name",
                "warning",
            )
        )
    nameless = isinstance(data, dict) and "name" not in data
    if raw.name is None and default_name is None and nameless:
        problems.append(Problem("name", "missing required key"))
    problems += check_raw(raw)
    resolver = FacetResolver(piece_dir, list(libraries), raw.sections, problems)
    piece = build_piece(raw, resolver, default_name, source)
    if piece is not None:
        paths = {mv.name: mv.path for top in raw.movements for mv in (top, *top.parallel)}
        problems += check_resolved(piece, {k: v for k, v in paths.items() if k})
    report = ValidationReport(source=source, problems=problems)
    if not report.ok or piece is None:
        return None, report
    return piece.model_copy(update={"warnings": report.warnings}), report


def _compile_workflow(
    data: object,
    problems: list[Problem],
    piece_dir: Path | None,
    libraries: Sequence[Path],
    default_name: str | None,
    source: str | None,
) -> tuple[Piece | None, ValidationReport]:
    session = Session(libraries=list(libraries))
    compiled = compile_workflow(data, piece_dir, session, default_name=default_name, source=source)
    problems = [*problems, *compiled.problems]
    piece = compiled.piece
    report = ValidationReport(source=source, problems=problems)
    if not report.ok or piece is None:
        return None, report
    return piece.model_copy(update={"warnings": report.warnings}), report


class PieceLibrary:
    """An ordered search path of libraries; the first library holding a name wins."""

    def __init__(self, roots: Sequence[Path | str]) -> None:
        self.roots = [Path(r) for r in roots]

    @classmethod
    def for_owner(
        cls,
        owner: str = "local",
        data_dir: Path | str = Path(".legato"),
        pieces_path: Sequence[Path | str] | str | None = None,
        include_builtin: bool = True,
    ) -> PieceLibrary:
        # Only what could leave users/ is refused; owner names are otherwise the app's business.
        if owner in ("", ".", "..") or any(ch in owner for ch in "/\\\0"):
            raise ValueError(f"invalid owner name {owner!r}")
        if isinstance(pieces_path, str):
            pieces_path = [p for p in pieces_path.split(":") if p]
        roots: list[Path | str] = [Path(data_dir) / "users" / owner, *(pieces_path or [])]
        if include_builtin:
            roots.append(BUILTIN_DIR)
        return cls(roots)

    @classmethod
    def builtin(cls) -> PieceLibrary:
        return cls([BUILTIN_DIR])

    def _files(self, root: Path) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for name in FOLDERS:
            folder = root / name
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix in _SUFFIXES and _safe(path.stem) and path.stem not in found:
                    try:
                        found[path.stem] = inside(root, path.relative_to(root))
                    except PathEscape:
                        continue  # a symlink pointing out of the library is not a piece of it
        return found

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for root in self.roots:
            for name in self._files(root):
                seen.setdefault(name)
        return list(seen)

    def find(self, name: str) -> Path:
        if _safe(name):
            for root in self.roots:
                path = self._files(root).get(name)
                if path is not None:
                    return path
        raise PieceNotFound(name, [str(r) for r in self.roots], closest(name, self.names()))

    def load(self, name: str) -> Piece:
        return self.load_file(self.find(name), default_name=name)

    def load_file(self, path: Path | str, default_name: str | None = None) -> Piece:
        path = Path(path)
        piece, report = self._compile_file(path, default_name)
        if piece is None:
            raise PieceInvalid(default_name or path.stem, report)
        return piece

    def validate_file(self, path: Path | str) -> ValidationReport:
        return self._compile_file(Path(path), None)[1]

    def validate_text(
        self, yaml_text: str, base_dir: Path | str | None = None, source: str | None = None
    ) -> ValidationReport:
        return self.compile_text(yaml_text, base_dir, source)[1]

    def compile_text(
        self, yaml_text: str, base_dir: Path | str | None = None, source: str | None = None
    ) -> tuple[Piece | None, ValidationReport]:
        """Like load, for text not (yet) in a library, e.g. a piece posted to the API."""
        piece_dir = Path(base_dir) if base_dir is not None else None
        return compile_piece(yaml_text, piece_dir, self.roots, source=source)

    def _compile_file(
        self, path: Path, default_name: str | None
    ) -> tuple[Piece | None, ValidationReport]:
        source = str(path)
        try:
            if path.stat().st_size > MAX_PIECE_BYTES:
                word = dialect_of(None, path.parent)
                problem = Problem("", f"{word} file is larger than {MAX_PIECE_BYTES // 1024} KiB")
                return None, ValidationReport(source=source, problems=[problem])
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            word = dialect_of(None, path.parent)
            problem = Problem("", f"cannot read {word} file: {exc.__class__.__name__}")
            return None, ValidationReport(source=source, problems=[problem])
        return compile_piece(
            text,
            path.resolve().parent,
            self.roots,
            default_name=default_name or path.stem,
            source=source,
        )
