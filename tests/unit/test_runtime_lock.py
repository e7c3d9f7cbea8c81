"""The image installs requirements.lock only: everything the shipped packages import must
be in it. A module the dev lock happens to bring (through a test tool) would pass every
other test and fail only when the image starts."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("app", "tasks", "pieces", "agents", "swarm")


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", line)
        if m:
            names.add(_normalise(m.group(1)))
    return names


def test_every_third_party_import_of_the_shipped_code_is_in_the_runtime_lock() -> None:
    imported: set[str] = set()
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            imported |= _top_level_imports(path)
    third_party = {
        name for name in imported if name not in sys.stdlib_module_names and name not in SHIPPED
    }
    dists = packages_distributions()
    locked = _locked(ROOT / "requirements.lock")
    missing = {
        name: dists.get(name)
        for name in sorted(third_party)
        if not dists.get(name) or not any(_normalise(d) in locked for d in dists[name])
    }
    assert missing == {}, "imported by shipped code but not in requirements.lock (make lock)"


def test_the_check_sees_a_module_only_the_dev_lock_has() -> None:
    # pytest is in the dev lock only: the check above must be able to tell.
    dists = packages_distributions()
    assert not any(_normalise(d) in _locked(ROOT / "requirements.lock") for d in dists["pytest"])
