"""A scripted model for the piece suite: what each phase of each movement visit answers.

The same script drives the pure walk (tests/unit/pieces/simulator.py) and the fake LLM
server in the end-to-end runs (tests/integration/test_piece_suite.py), so both must
take the same path.

A script gives, per movement, one token per visit. A token names the first judgment
stage that gives a valid answer, and the number it answers; the stages before it answer
something invalid (prose instead of JSON, no tag), the ones after it are not reached:

    s<N>  Phase 3 structured output {"step": N}      (method structured_output)
    t<N>  Phase 3 tag stage [MOVEMENT:N]              (phase3_tag)
    j<N>  Phase 3 AI judge [JUDGE:N]                  (ai_judge)
    p<N>  the Phase 1 answer itself ends with [MOVEMENT:N]   (phase1_tag, 0.31 only)
    a<N>  the judge over the ai() conditions [JUDGE:N]       (ai_judge)
    f<N>  the judge over all conditions [JUDGE:N]            (ai_judge_fallback)
    x     nothing valid anywhere: no rule is found

`r0,` before a token makes the first report answer of the visit empty (the report is
retried in a fresh conversation); `rx,` makes the retry empty too. An unscripted visit
answers 1 at whichever stage comes first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

STAGES = "stjpafx"
_TOKEN = re.compile(r"^(?:(r0|rx),)?([stjpafx])(\d*)$")
KIND_STAGE = {
    "judge_structured": "s",
    "judge_tag": "t",
    "judge_ai": "j",
    "fallback_ai": "a",
    "fallback_all": "f",
}


@dataclass(frozen=True)
class Visit:
    stage: str | None = None  # None: every stage answers validly (an unscripted visit)
    number: int = 1
    report: str | None = None  # None, "r0" or "rx"

    @classmethod
    def parse(cls, token: str) -> Visit:
        m = _TOKEN.match(token)
        if not m:
            raise ValueError(f"bad script token {token!r}")
        report, stage, digits = m.groups()
        return cls(stage, int(digits or 1), report)

    def valid_at(self, stage: str) -> bool:
        return self.stage is None or self.stage == stage


@dataclass
class ScriptedModel:
    script: dict[str, list[str]] = field(default_factory=dict)
    runs: dict[str, list[str]] = field(default_factory=dict)  # movement -> run ids seen

    def visit(self, movement: str, run_id: str) -> tuple[int, Visit]:
        seen = self.runs.setdefault(movement, [])
        if run_id not in seen:
            seen.append(run_id)
        index = seen.index(run_id)
        tokens = self.script.get(movement, [])
        return index + 1, (Visit.parse(tokens[index]) if index < len(tokens) else Visit())

    def reply(self, movement: str, run_id: str, kind: str) -> str | None:
        """The answer text, or None for kinds the script leaves to the default."""
        number, visit = self.visit(movement, run_id)
        tag = f"[{movement.upper()}:{visit.number}]"
        if kind == "execute":
            body = f"Answer from {movement} (visit {number})."
            return f"{body}\n{tag}" if visit.stage == "p" else body
        if kind == "report":
            return "" if visit.report else f"Report from {movement} (visit {number})."
        if kind == "report_retry":
            return "" if visit.report == "rx" else f"Report from {movement}, retried."
        stage = KIND_STAGE.get(kind)
        if stage is None:
            return None
        if not visit.valid_at(stage):
            return "I would rather not say."
        if stage == "s":
            return json.dumps({"step": visit.number, "reason": "scripted"})
        if stage == "t":
            return tag
        return f"[JUDGE:{visit.number}]"
