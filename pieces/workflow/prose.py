"""``all_steps.rules``: prose every Phase 1 prompt of the workflow carries (TAKT v0.60).

Each entry is a name, or ``{ref, position: before_instruction}``; the name is the file
``workflows/rules/<name>.md`` in the first library that has it. Without a position the
text joins the Execution Rules; with ``before_instruction`` it comes just before the
instructions. These are prompt rules, not transition rules: a file may not contain
``{report:…}`` references or a "Required Output" heading, which belong to reports.
"""

from __future__ import annotations

import re
from typing import Any

from pieces.parse import Walker, at, describe
from pieces.workflow.resources import ResourceError, Resources

FOLDER = "workflows/rules"
_REPORT_REF = re.compile(r"\{report:[^}]*\}")
_REQUIRED_OUTPUT = re.compile(
    r"(?:必須出力（見出しを含める）|Required Output \(include (?:the )?headings\))", re.IGNORECASE
)
_HEADING = re.compile(r"^\s*#{1,6}\s*(.+)$")
_REQUIRED_TITLE = re.compile(r"^(?:必須出力|Required Outputs?)(?:\s|$|[（(：:])", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]+)](?:\([^)]*\)|\[[^\]]*])?")
_TAG = re.compile(r"<[^>]*>")


def _has_required_output(text: str) -> bool:
    if _REQUIRED_OUTPUT.search(text):
        return True
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            title = re.sub(r"[*_~`]", "", _TAG.sub("", _LINK.sub(r"\1", m.group(1)))).strip()
            if _REQUIRED_TITLE.match(title):
                return True
    return False


def parse_all_steps(w: Walker, value: Any, res: Resources) -> tuple[list[str], list[str]]:
    """(after the execution rules, before the instructions): the resolved texts."""
    if value is None:
        return [], []
    m = w.mapping(value, "all_steps")
    if m is None:
        return [], []
    for key in m:
        if key != "rules":
            w.error(at("all_steps", str(key)), "unknown key", "all_steps only has rules")
    after: list[str] = []
    before: list[str] = []
    for path, item in w.items(m, "rules", "all_steps"):
        position = None
        if isinstance(item, dict):
            for key in item:
                if key not in ("ref", "position"):
                    w.error(at(path, str(key)), "unknown key")
            ref = w.string(item, "ref", path, required=True)
            position = w.string(item, "position", path)
            if position is not None and position != "before_instruction":
                w.error(at(path, "position"), 'the only position is "before_instruction"')
        elif isinstance(item, str) and item.strip():
            ref = item.strip()
        else:
            w.error(path, f"expected a rule name or {{ref, position}}, got {describe(item)}")
            continue
        if ref is None:
            continue
        text = _read(w, ref.strip(), path, res)
        if text is not None:
            (before if position == "before_instruction" else after).append(text)
    return after, before


def _read(w: Walker, ref: str, path: str, res: Resources) -> str | None:
    if "/" in ref or "\\" in ref or ref in (".", ".."):
        w.error(path, f'invalid workflow-wide rule reference "{ref}"', "a bare file name")
        return None
    try:
        file = res.find(FOLDER, ref, (".md",))
        text = res.cache.text(file) if file is not None else None
    except ResourceError as exc:
        w.error(path, f'workflow-wide rule "{ref}": {exc}')
        return None
    if file is None or text is None:
        w.error(
            path, f'workflow-wide rule "{ref}" was not found (searched: {res.searched(FOLDER)})'
        )
        return None
    if _has_required_output(text):
        w.error(path, f'workflow-wide rule "{ref}" must not contain a required output heading')
        return None
    if _REPORT_REF.search(text):
        w.error(path, f'workflow-wide rule "{ref}" must not contain {{report:…}} references')
        return None
    return text.strip()
