"""Looks at the job's workspace that a step's reviewers need, recorded like model calls.

Companion reviewers and the completion judge review what the step changed: the
difference between the workspace as the step found it (its *baseline*, the commit
HEAD pointed at before Phase 1) and the workspace now, untracked files included.
The worker reads git (``tasks.engine.local``); the program only asks, so a redelivered
run replays the recorded look instead of taking a new one. A workspace that is not a
git repository has no baseline: companions are then skipped and the judge is told the
evidence is not available.
"""

from __future__ import annotations

from dataclasses import dataclass

from pieces.exchange import Answer, Call

BASELINE, DIFF = "workspace_baseline", "workspace_diff"


@dataclass(frozen=True)
class Changes:
    available: bool
    paths: tuple[str, ...] = ()
    diff: str = ""  # capped by the worker
    digest: str = ""  # of the whole diff, to notice that nothing changed since a review


def baseline_call() -> Call:
    return Call(BASELINE, 0, "git rev-parse HEAD", local={"type": "git_baseline"})


def baseline_of(answer: Answer) -> str | None:
    """The baseline commit (or git's empty tree before the first commit), None without git."""
    if answer.status != "done" or not answer.content.strip():
        return None
    return answer.content.strip()


def diff_call(name: str, baseline: str) -> Call:
    return Call(
        DIFF,
        1,
        f"git diff {baseline} (untracked files included)",
        name=name,
        local={"type": "git_diff", "baseline": baseline},
    )


def changes_of(answer: Answer) -> Changes:
    data = answer.structured if isinstance(answer.structured, dict) else {}
    if answer.status != "done" or not data.get("available"):
        return Changes(False)
    return Changes(
        True,
        tuple(str(p) for p in data.get("paths") or ()),
        answer.content,
        str(data.get("digest") or ""),
    )
