"""Piece libraries on a search path: finding pieces by name, loading and validating them.

A library is a folder with ``pieces/*.yaml`` and ``facets/<kind>/*.md``. Search order:
the piece file's own library, the owner's, each PIECES_PATH entry, then the built-in one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pieces.facets import FacetResolver, PathEscape, inside
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
from pieces.yamlio import load_yaml

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
_SUFFIXES = (".yaml", ".yml")
MAX_PIECE_BYTES = 1024 * 1024
# Bounds on what one piece may ask of validation and of a job: generous for real pieces
# (TAKT's largest builtin has 30 movements of at most 12 rules), small enough that any
# accepted file validates in linear time.
MAX_MOVEMENTS = 200
MAX_RULES = 2000


def _safe(name: str) -> bool:
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def compile_piece(
    text: str,
    piece_dir: Path | None,
    libraries: Sequence[Path],
    default_name: str | None = None,
    source: str | None = None,
) -> tuple[Piece | None, ValidationReport]:
    """Parse, check and resolve one piece; the Piece is None whenever there are errors."""
    with hint_budget():
        return _compile(text, piece_dir, libraries, default_name, source)


def shape_problems(data: object) -> list[Problem]:
    """Refuse, before any detailed check, a piece too big to be worth validating."""
    if not isinstance(data, dict):
        return []
    key = "movements" if "movements" in data else "steps"
    steps = data.get(key)
    if not isinstance(steps, list):
        return []
    if len(steps) > MAX_MOVEMENTS:
        return [Problem(key, f"too many {key}: {len(steps)} (at most {MAX_MOVEMENTS})")]
    members = [m for s in steps if isinstance(s, dict) for m in [s, *_as_list(s.get("parallel"))]]
    rules = sum(len(_as_list(m.get("rules"))) for m in members if isinstance(m, dict))
    if rules > MAX_RULES:
        return [Problem(key, f"too many rules: {rules} (at most {MAX_RULES})")]
    return []


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else []


def _compile(
    text: str,
    piece_dir: Path | None,
    libraries: Sequence[Path],
    default_name: str | None,
    source: str | None,
) -> tuple[Piece | None, ValidationReport]:
    if len(text.encode("utf-8", "replace")) > MAX_PIECE_BYTES:
        problem = Problem("", f"piece is larger than {MAX_PIECE_BYTES // 1024} KiB")
        return None, ValidationReport(source=source, problems=[problem])
    data, problems, usable = load_yaml(text)
    if usable:
        problems += shape_problems(data)
    if not usable or (problems and any(p.severity == "error" for p in problems)):
        return None, ValidationReport(source=source, problems=problems)
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
        folder = root / "pieces"
        found: dict[str, Path] = {}
        if not folder.is_dir():
            return found
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
                problem = Problem("", f"piece file is larger than {MAX_PIECE_BYTES // 1024} KiB")
                return None, ValidationReport(source=source, problems=[problem])
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = Problem("", f"cannot read piece file: {exc.__class__.__name__}")
            return None, ValidationReport(source=source, problems=[problem])
        return compile_piece(
            text,
            path.resolve().parent,
            self.roots,
            default_name=default_name or path.stem,
            source=source,
        )
