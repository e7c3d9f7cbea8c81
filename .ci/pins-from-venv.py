"""Print legato's runtime dependency closure pinned to this venv's versions.

Used by build-image.sh only while the checkout has no lock file. Markers are evaluated
for the Python version given as the argument (the image's, which may differ from the
venv's: bookworm's 3.11.2 needs async-timeout, a newer 3.11 does not); a dependency
the venv lacks for that reason is printed with its specifier, for pip to resolve.
"""

from __future__ import annotations

import importlib.metadata as md
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(root: str, python: str) -> list[str]:
    env = {"python_full_version": python, "python_version": ".".join(python.split(".")[:2])}
    pins: dict[str, str] = {}
    done: set[tuple[str, str]] = set()  # (distribution, extra) already expanded
    todo: list[tuple[str, str]] = [(root, "")]
    while todo:
        name, extra = todo.pop()
        key = (canonicalize_name(name), extra)
        if key in done:
            continue
        done.add(key)
        for text in md.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
                continue
            if req.marker is None and extra:
                continue  # the plain requirements came with extra ""
            dep = canonicalize_name(req.name)
            try:
                pins[dep] = f"{req.name}=={md.version(req.name)}"
            except md.PackageNotFoundError:
                pins.setdefault(dep, f"{req.name}{req.specifier}")
                continue
            todo += [(req.name, e) for e in ("", *req.extras)]
    return sorted(pins.values(), key=str.lower)


if __name__ == "__main__":
    print("\n".join(closure("legato", sys.argv[1])))
