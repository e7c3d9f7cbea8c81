"""Rule conditions as TAKT 0.31 reads them: a label, ``ai("…")``, ``all(…)`` or ``any(…)``.

0.31 recognises ``ai("text")`` by the pattern ``^ai\\("(.+)"\\)$`` and aggregates by
``^(all|any)\\((.+)\\)$``, whose arguments are the double-quoted strings inside; anything
else is a plain label judged by Phase 3. The workflow dialect's grammar (``when(…)``,
``label && when(…)``) lives in ``pieces.workflow.conditions``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pieces.model import ConditionKind

_AI = re.compile(r"^ai\(\"(.+)\"\)$")
_AGGREGATE = re.compile(r"^(all|any)\((.+)\)$")
_QUOTED = re.compile(r'"([^"]+)"')


class ConditionSyntaxError(ValueError):
    pass


class ParsedCondition(NamedTuple):
    kind: ConditionKind
    label: str | None  # the label, or the ai() text
    args: list[str]  # aggregate arguments
    when: str | None = None


def parse_piece_condition(raw: str) -> ParsedCondition:
    """Parse one 0.31 condition; raises ConditionSyntaxError as 0.31's loader would."""
    m = _AI.match(raw)
    if m:
        return ParsedCondition("ai", m.group(1), [])
    m = _AGGREGATE.match(raw)
    if m:
        args = _QUOTED.findall(m.group(2))
        if not args:
            raise ConditionSyntaxError(
                f'{m.group(1)}() needs double-quoted arguments, e.g. {m.group(1)}("approved")'
            )
        return ParsedCondition(m.group(1), None, args)  # type: ignore[arg-type]
    return ParsedCondition("label", raw, [])
