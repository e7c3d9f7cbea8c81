"""Fixtures for the workflow-dialect tests: TAKT's builtin libraries and throwaway ones."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

MIRROR = Path("/work/.mirror/nrslib+takt/repo")
HEAD_COMMIT = "766135cef"  # TAKT v0.60
OLD_COMMIT = "0cdec043b"  # TAKT 0.31


def _takt_builtins(tmp_factory, env: str, default: str, commit: str, folders: list[str]) -> Path:
    """``builtins/en`` of one TAKT revision: from the environment, the default checkout,
    or extracted from the git mirror; the test is skipped only when none exists."""
    folder = Path(os.environ.get(env) or default)
    if folder.is_dir():
        return folder
    if (MIRROR / "HEAD").exists() or (MIRROR / ".git").exists():
        archive = subprocess.run(
            ["git", "-C", str(MIRROR), "archive", commit, *folders],
            capture_output=True,
            check=True,
        ).stdout
        dest = tmp_factory.mktemp(f"takt-{commit}")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        return dest / "builtins" / "en"
    pytest.skip(f"TAKT builtins not found: set {env}, or provide {default} or the mirror {MIRROR}")


@pytest.fixture(scope="session")
def takt_head(tmp_path_factory) -> Path:
    return _takt_builtins(
        tmp_path_factory,
        "TAKT_BUILTINS_HEAD",
        "/work/takthead/builtins/en",
        HEAD_COMMIT,
        ["builtins/en", "builtins/schemas"],
    )


@pytest.fixture(scope="session")
def takt_031(tmp_path_factory) -> Path:
    return _takt_builtins(
        tmp_path_factory,
        "TAKT_BUILTINS_031",
        "/work/takt031/builtins/en",
        OLD_COMMIT,
        ["builtins/en"],
    )


@pytest.fixture
def lib(tmp_path: Path):
    """A throwaway library: lib({"workflows/x.yaml": "...", "steps/f.yaml": "..."})."""

    def make(files: dict[str, str], root: Path | None = None) -> Path:
        root = root or tmp_path / "lib"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (root / "workflows").mkdir(parents=True, exist_ok=True)
        return root

    return make
