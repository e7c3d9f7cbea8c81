"""A job's workspace: a folder per job, confined paths, and a git history of movements.

Every file tool resolves paths here, so confinement is decided in one place: no `..`
component, no absolute path outside the root, and no symlink whose target leaves it
(paths are checked after resolving links, so a link planted inside cannot escape).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SUBDIRS = ("input", "output", "reports", "logs")
# Commits must work on hosts without a global git identity (containers, CI).
_GIT_IDENTITY = ("-c", "user.name=legato", "-c", "user.email=legato@localhost")


class WorkspaceError(Exception):
    """A path the agent may not touch; the message goes back to the model."""


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def open(cls, root: Path, *, git: bool = True) -> Workspace:
        """Create the folder layout (idempotent); `git` makes it a repository."""
        ws = cls(root)
        for sub in SUBDIRS:
            (ws.root / sub).mkdir(parents=True, exist_ok=True)
        if git and not (ws.root / ".git").exists():
            ws._git("init", "-q")
        return ws

    def resolve(self, path: str) -> Path:
        if not isinstance(path, str) or not path.strip():
            raise WorkspaceError("path must be a non-empty string")
        if "\x00" in path:
            raise WorkspaceError("path contains a NUL byte")
        raw = Path(path)
        if ".." in raw.parts:
            raise WorkspaceError(f"{path}: '..' is not allowed in workspace paths")
        candidate = raw if raw.is_absolute() else self.root / raw
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            raise WorkspaceError(f"{path}: outside the job's workspace")
        if ".git" in real.relative_to(self.root).parts:
            raise WorkspaceError(f"{path}: the workspace's git metadata is off limits")
        return real

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) or "."

    # -- git -------------------------------------------------------------------------

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", *_GIT_IDENTITY, *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    @property
    def is_repo(self) -> bool:
        return (self.root / ".git").exists()

    def commit(self, message: str) -> str | None:
        """Commit everything changed; returns the new commit id, or None if nothing changed."""
        if not self.is_repo:
            return None
        self._git("add", "-A")
        if self._git("diff", "--cached", "--quiet", check=False).returncode == 0:
            return None
        self._git("commit", "-q", "--no-verify", "-m", message)
        return self._git("rev-parse", "HEAD").stdout.strip()

    def log(self) -> list[str]:
        """Commit subjects, newest first."""
        if not self.is_repo:
            return []
        out = self._git("log", "--format=%s", check=False)
        return out.stdout.splitlines() if out.returncode == 0 else []
