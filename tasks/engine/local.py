"""The program's local calls: what the worker does in the job's workspace instead of
asking a model (pieces.exchange.Call.local), answered and recorded like a model call.

* ``git_baseline``: the commit HEAD points at (git's empty tree before the first one);
* ``git_diff``: what changed since a baseline, untracked files included, read through
  a throwaway index so the workspace's own index is never touched;
* ``command``: a command quality gate (tasks.engine.gates).

A workspace that is not a git repository (a subtask's, which belongs to its parent)
answers the git looks as unavailable.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.workspace import Workspace
from app.config import Settings
from pieces import Answer, Call
from tasks.engine.calls import CallContext, Performed
from tasks.engine.gates import run_gate

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's id of the empty tree
DIFF_MAX_BYTES = 256 * 1024
MAX_PATHS = 200


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def _repository(claimed) -> Path | None:
    """The job's own workspace, made a repository if no tool has opened it yet."""
    if claimed.job.workspace is not None:
        return None  # a subtask works in its parent's folder, without git
    return Workspace.open(claimed.workspace, git=True).root


def baseline(claimed) -> tuple[str, dict[str, Any]]:
    root = _repository(claimed)
    if root is None:
        return "", {"available": False}
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD").stdout.decode().strip()
    return head or EMPTY_TREE, {"available": True}


def changes(claimed, since: str) -> tuple[str, dict[str, Any]]:
    root = _repository(claimed)
    if root is None:
        return "", {"available": False}
    with tempfile.TemporaryDirectory(prefix="legato-index-") as folder:
        env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        _git(root, "add", "-A", env=env)
        diff = _git(root, "diff", "--cached", "--no-color", since, "--", env=env)
        names = _git(root, "diff", "--cached", "--name-only", since, "--", env=env)
    if diff.returncode != 0:
        return "", {"available": False, "error": diff.stderr.decode(errors="replace")[:500]}
    paths = [p for p in names.stdout.decode(errors="replace").splitlines() if p][:MAX_PATHS]
    text = diff.stdout[:DIFF_MAX_BYTES].decode(errors="replace")
    digest = hashlib.sha256(diff.stdout).hexdigest()
    return text, {"available": True, "paths": paths, "digest": digest}


def changed_paths(claimed) -> list[str]:
    """The files the job has made or changed in its workspace so far (everything git
    sees against the empty tree, untracked files included), without legato's own
    reports and logs; none when the workspace is not a repository."""
    root = _repository(claimed)
    if root is None:
        return []
    with tempfile.TemporaryDirectory(prefix="legato-index-") as folder:
        env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
        _git(root, "add", "-A", env=env)
        names = _git(root, "diff", "--cached", "--name-only", EMPTY_TREE, "--", env=env)
    paths = names.stdout.decode(errors="replace").splitlines()
    own = ("reports/", "logs/")
    return [p for p in paths if p and not p.startswith(own)][:MAX_PATHS]


def perform_local(ctx: CallContext, claimed, settings: Settings, call: Call) -> Performed:
    started = time.monotonic()
    local = call.local or {}
    kind = local.get("type")
    if kind == "command":
        answer = run_gate(claimed, settings, call)
    else:
        if kind == "git_baseline":
            content, data = baseline(claimed)
        elif kind == "git_diff":
            content, data = changes(claimed, str(local.get("baseline") or EMPTY_TREE))
        else:
            content, data = "", {"available": False, "error": f"unknown local call {kind!r}"}
        status = "done" if data.get("available") else "error"
        answer = Answer(
            kind=call.kind, content=content, name=call.name, status=status, structured=data
        )
    row = {
        "job_id": ctx.job_id,
        "attempt": ctx.attempt,
        "phase": call.phase,
        "kind": call.kind,
        "name": call.name,
        "session_key": None,
        "resets": False,
        "status": answer.status,
        "prompt": call.prompt,
        "system": None,
        "answer": answer.content,
        "structured": answer.structured,
        "error": answer.error,
        "tokens_in": 0,
        "tokens_out": 0,
        "latency_ms": int((time.monotonic() - started) * 1000),
        "model": None,
        "tool_calls": 0,
    }
    return Performed(answer, row)
