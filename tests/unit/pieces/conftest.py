from pathlib import Path

import pytest

from pieces import PieceLibrary


@pytest.fixture
def builtin() -> PieceLibrary:
    return PieceLibrary.builtin()


@pytest.fixture
def make_lib(tmp_path: Path):
    """A throwaway library: make_lib({"pieces/x.yaml": "...", "facets/personas/p.md": "..."})."""

    def make(files: dict[str, str], root: Path | None = None) -> Path:
        root = root or tmp_path / "lib"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (root / "pieces").mkdir(parents=True, exist_ok=True)
        return root

    return make
