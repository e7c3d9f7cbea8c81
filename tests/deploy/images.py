"""The images the deployment test runs: legato's own, built from this checkout by the
same script as `make image`, and stand-ins for the postgres and redis images that
deploy/stack.yml names, made from Debian's packages on the same local base.

No container registry is reachable here, so nothing is pulled. The base image and
the stand-ins are tagged by a hash of their recipe and reused across runs (the cache);
legato's image is rebuilt every run (Docker's layer cache makes that quick when little
changed). Build times are printed, not asserted.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .helpers import ROOT

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    cached: bool


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False, **kw)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return out


def base_image() -> Built:
    """The Debian-made stand-in for python:3.11-slim (.ci/base-image.sh)."""
    start = time.monotonic()
    out = _run(["bash", str(ROOT / ".ci" / "base-image.sh")], timeout=1200)
    return Built(out.stdout.strip(), time.monotonic() - start, "reusing" in out.stderr)


def legato_image(tags: list[str]) -> Built:
    """legato's image from this checkout, as `make image` builds it."""
    start = time.monotonic()
    env_tags = " ".join(tags)
    out = _run(
        ["env", f"IMAGE={env_tags}", "bash", str(ROOT / ".ci" / "build-image.sh")],
        timeout=1800,
        cwd=ROOT,
    )
    print(out.stderr.strip())
    return Built(tags[0], time.monotonic() - start, False)


def stand_in(kind: str, base: str) -> Built:
    """legato-test/<kind>:<hash>, built from images/<kind>.Dockerfile on ``base``."""
    files = sorted(IMAGES.glob(f"{kind}*"))
    digest = hashlib.sha256(base.encode())
    for path in files:
        digest.update(path.read_bytes())
    tag = f"legato-test/{kind}:{digest.hexdigest()[:12]}"
    start = time.monotonic()
    inspect = subprocess.run(["docker", "image", "inspect", tag], capture_output=True)
    if inspect.returncode == 0:
        return Built(tag, time.monotonic() - start, True)
    # apt needs the network: RUN steps on the default bridge have no way out here.
    _run(
        [
            "docker",
            "build",
            "--force-rm",
            "--network",
            "host",
            "--build-arg",
            f"BASE={base}",
            "-f",
            str(IMAGES / f"{kind}.Dockerfile"),
            "-t",
            tag,
            str(IMAGES),
        ],
        timeout=1200,
    )
    return Built(tag, time.monotonic() - start, False)
