"""Where a problem really is, once step fragments have been expanded.

Validation runs on the expanded workflow, so a problem is first found at its expanded
path (``steps[2].parallel.fixed[0].rules[1]``). The author wrote that rule elsewhere
(``steps[2].rules.parallel.arch-review[1]``), and a value the fragment supplied lives
in the fragment file. ``PathMap`` records both facts while fragments expand and moves
each problem to the author's path, naming the fragment when it is the source.
Lookups walk up the problem's path, so relocating costs O(path length) per problem.
"""

from __future__ import annotations

from collections.abc import Iterable

from pieces.problems import Problem


def prefixes(path: str) -> list[str]:
    """``a.b[1].c`` -> ``["a.b[1].c", "a.b[1]", "a.b", "a"]`` (longest first)."""
    cuts = [i for i, ch in enumerate(path) if ch in ".[" and i > 0]
    return [path, *(path[:i] for i in reversed(cuts))]


class PathMap:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # expanded prefix -> path the author wrote
        self.origins: dict[str, str] = {}  # expanded prefix -> "step fragment ..." note

    def alias(self, expanded: str, written: str) -> None:
        self.aliases[expanded] = written

    def origin(self, expanded: str, note: str) -> None:
        self.origins.setdefault(expanded, note)

    def relocate(self, problem: Problem) -> Problem:
        path = problem.path
        if not path or (not self.aliases and not self.origins):
            return problem
        candidates = prefixes(path)
        aliased = next((p for p in candidates if p in self.aliases), None)
        origin = next((p for p in candidates if p in self.origins), None)
        # A caller-owned part (rules given for a fragment's member) inside what the
        # fragment supplied is the caller's, not the fragment's.
        note = None
        if origin is not None and (aliased is None or len(origin) > len(aliased)):
            note = self.origins[origin]
        if aliased is not None:
            path = self.aliases[aliased] + path[len(aliased) :]
        if path == problem.path and note is None:
            return problem
        hint = f"{problem.hint}; {note}" if problem.hint and note else (note or problem.hint)
        return Problem(path, problem.message, hint, problem.severity)

    def relocate_all(self, problems: Iterable[Problem]) -> list[Problem]:
        return [self.relocate(p) for p in problems]
