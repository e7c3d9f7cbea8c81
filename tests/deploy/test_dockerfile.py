"""deploy/Dockerfile, statically: what a reader (or a real registry's BuildKit) relies on.
The image itself is built and run for real by tests/deploy/test_deployment.py."""

from __future__ import annotations

import re

from .helpers import DEPLOY, ROOT

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.splitlines() if not ln.strip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word:
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_python_image_is_the_base_users_set():
    assert instructions()[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    froms = [args for ins, args in instructions() if ins == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_the_builder_installs_the_locked_set_with_hashes_then_legato():
    runs = [args for ins, args in stages()[0] if ins == "RUN"]
    assert "--require-hashes -r /wheelhouse/requirements.lock" in runs[0]
    assert "no-index = true" in runs[0] and "find-links = /wheelhouse" in runs[0]
    assert "pip install --no-deps /src" in runs[1] and "pip check" in runs[1]
    assert (ROOT / "deploy" / "wheelhouse" / ".gitignore").exists()


def test_the_runtime_gets_git_a_user_and_the_venv_last():
    runtime = stages()[1]
    [run] = [args for ins, args in runtime if ins == "RUN"]
    assert "apt-get install -y --no-install-recommends git" in run
    assert "rm -rf /var/lib/apt/lists/*" in run
    assert runtime[-1] == ("COPY", "--from=builder /opt/venv /opt/venv")
    meta = dict(runtime)
    assert meta["USER"] == "10001:10001"
    assert meta["ENTRYPOINT"] == '["legato"]' and meta["CMD"] == '["api"]'
    assert '"/opt/venv/bin/legato-healthcheck"' in meta["HEALTHCHECK"]


def test_the_build_context_is_an_allow_list():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"]
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert {"app", "tasks", "pieces", "agents", "swarm", "pyproject.toml"} <= allowed
    assert not {".venv", ".git", "tests", "deploy/.env"} & allowed
