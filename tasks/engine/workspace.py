"""The files side of a run: report files (with TAKT's copy-aside) and the per-run commit."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from agents.workspace import Workspace
from pieces.reports import safe_report_name, versioned_name

log = logging.getLogger(__name__)

_git_locks: dict[str, threading.Lock] = {}
_git_guard = threading.Lock()


def write_report(claimed, name: str, content: str) -> None:
    """Write `reports/<name>`; an existing version is first copied aside, as TAKT 0.31
    does (`<name>.<YYYYMMDDTHHMMSSZ>[.<n>]` next to it)."""
    if not safe_report_name(name):
        log.warning("report name %r leaves the report directory; not written", name)
        return
    folder = claimed.workspace / (claimed.job.reports_path or "reports")
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents:
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            seq = 0
            while (aside := target.parent / versioned_name(target.name, stamp, seq)).exists():
                seq += 1
            aside.write_bytes(target.read_bytes())
        target.write_text(content + "\n", encoding="utf-8")
    except OSError:  # the report is stored with the job either way
        log.warning("could not write report %s under %s", name, folder, exc_info=True)


def commit_run(claimed) -> str | None:
    """Commit the workspace after a run (when it is a git repository); the commit id."""
    root: Path = claimed.workspace
    if claimed.job.workspace is not None or not (root / ".git").exists():
        return None
    with _git_guard:
        lock = _git_locks.setdefault(str(root), threading.Lock())
    with lock:
        try:
            Workspace(root).commit(f"{claimed.run.name} (iteration {claimed.run.iteration})")
            return Workspace(root)._git("rev-parse", "HEAD", check=False).stdout.strip() or None
        except Exception:  # another process held the index lock; the next run commits
            log.warning("workspace commit in %s failed", root, exc_info=True)
            return None


def restore(claimed, commit: str | None) -> None:
    """A replayed run's first visit: put the workspace back as it was before the movement.

    The attempt being left is tagged first (its history stays reachable in the
    repository); then the tree is reset to `commit`, or emptied when the movement came
    before any commit. Idempotent, so a redelivered visit may do it again.
    """
    root: Path = claimed.workspace
    if claimed.job.workspace is not None or not (root / ".git").exists():
        return
    ws = Workspace(root)
    head = ws._git("rev-parse", "--verify", "-q", "HEAD", check=False).stdout.strip()
    if head and head != commit:
        tag = f"legato-attempt-{claimed.run.attempt - 1}-end"
        ws._git("tag", "-f", tag, head, check=False)
    if commit:
        ws._git("reset", "-q", "--hard", commit)
    elif head:
        ws._git("rm", "-rfq", "--ignore-unmatch", ".")
        ws.commit(f"replay of attempt {claimed.run.attempt}: start from an empty workspace")
    ws._git("clean", "-fdxq")
    Workspace.open(root)  # the standard folders again
