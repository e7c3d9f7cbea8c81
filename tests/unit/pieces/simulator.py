"""A reference walk through a piece with scripted answers, using only the public API.

It plays both the agent and the judge: the agent answers each visit to a movement with a
scripted ``[STEP:N]`` (or no tag), the judge with a scripted index. The rules applied after
each movement are the ones ``tests/piece_suite/README.md`` documents:

1. a parallel movement runs every sub-movement and joins them with ``evaluate_aggregate``;
2. otherwise the last tag picks the rule, and a judge call decides when ``needs_judge``;
3. no match ends the job (ABORT); COMPLETE/ABORT end it;
4. when the next step is a movement, loop monitors are checked and a triggered judge's
   rule replaces the next step;
5. if the next step is still a movement and ``max_movements`` movements have run, ABORT.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pieces import (
    Movement,
    Piece,
    PromptContext,
    RuleMatch,
    build_prompt,
    check_loop_monitors,
    evaluate_aggregate,
    extract_reports,
    judge_prompt,
    loop_judge_prompt,
    match_by_tag,
    needs_judge,
    parse_judge_reply,
)

_TOKEN = re.compile(r"^(-|\d+)(?:/(\d+))?$")


@dataclass
class Script:
    """Per movement (or judge) name, one token per visit: ``N``, ``N/J`` or ``-/J``.

    ``N`` is the agent's ``[STEP:N]``, ``-`` a reply without a tag, ``J`` the judge's
    answer when a judge call happens. Unscripted visits answer ``0`` (and the judge ``0``).
    """

    tokens: dict[str, list[str]] = field(default_factory=dict)
    used: Counter = field(default_factory=Counter)

    @classmethod
    def parse(cls, text: str) -> Script:
        tokens: dict[str, list[str]] = {}
        text = text.strip().strip("`").strip()
        if text in ("", "(all 0)"):
            return cls()
        for part in text.split(";"):
            name, _, answers = part.strip().partition(":")
            toks = answers.split()
            for tok in toks:
                assert _TOKEN.match(tok), f"bad token {tok!r} in {text!r}"
            tokens[name.strip()] = toks
        return cls(tokens)

    def take(self, name: str) -> tuple[str | None, int]:
        visit = self.used[name]
        self.used[name] += 1
        toks = self.tokens.get(name, [])
        m = _TOKEN.match(toks[visit] if visit < len(toks) else "0")
        assert m
        agent = None if m.group(1) == "-" else m.group(1)
        return agent, int(m.group(2) or 0)


@dataclass
class Outcome:
    path: list[str] = field(default_factory=list)
    end: str = ""
    notes: list[str] = field(default_factory=list)
    prompts: list[tuple[str, str]] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    tiers: dict[str, str | None] = field(default_factory=dict)


def _reply(name: str, visit: int, agent: str | None) -> str:
    body = f"Answer from {name} (visit {visit})."
    return body if agent is None else f"{body}\n[STEP:{agent}]"


def _choose(movement: Movement, output: str, judge: int, out: Outcome) -> RuleMatch | None:
    if not needs_judge(movement, output):
        return match_by_tag(movement, output)
    assert "[STEP:" in judge_prompt(movement, output)
    out.notes.append(f"judge({movement.name})")
    return parse_judge_reply(movement, f"[STEP:{judge}]")


def simulate(piece: Piece, script: Script, task: str = "the task") -> Outcome:
    out = Outcome()
    counts: Counter = Counter()
    history: list[str] = []
    inputs: list[str] = []
    previous: str | None = None
    current = piece.initial_movement
    while True:
        movement = piece.movement(current)
        counts[current] += 1
        history.append(current)
        out.path.append(current)
        ctx = PromptContext(
            task=task,
            iteration=len(history),
            movement_iteration=counts[current],
            previous_response=previous,
            user_inputs=list(inputs),
            reports=dict(out.reports),
        )
        if movement.parallel:
            results: dict[str, str] = {}
            outputs = []
            for sub in movement.parallel:
                out.prompts.append((sub.name, build_prompt(piece, sub, ctx)))
                out.tiers[sub.name] = sub.tier
                agent, judge = script.take(sub.name)
                output = _reply(sub.name, script.used[sub.name], agent)
                outputs.append(f"## {sub.name}\n{output}")
                matched = _choose(sub, output, judge, out)
                if matched is not None:
                    results[sub.name] = matched.condition
                out.reports.update(extract_reports(sub, output))
            match = evaluate_aggregate(movement, results)
            previous = "\n\n".join(outputs)
        else:
            out.prompts.append((current, build_prompt(piece, movement, ctx)))
            out.tiers[current] = movement.tier
            agent, judge = script.take(current)
            previous = _reply(current, counts[current], agent)
            match = _choose(movement, previous, judge, out)
            out.reports.update(extract_reports(movement, previous))
        if match is None:
            out.end = f"ABORT: no rule matched in {current}"
            return out
        if match.requires_user_input:
            out.notes.append(f"input(after {current})")
            inputs.append(f"user input {len(inputs) + 1}")
        nxt, decided_by = match.next, f'rule "{match.condition}"'
        if nxt not in ("COMPLETE", "ABORT"):
            trigger = check_loop_monitors(piece, history)
            if trigger is not None:
                judge_mv = trigger.monitor.judge
                assert judge_mv is not None
                prompt = loop_judge_prompt(
                    piece, trigger, ctx.model_copy(update={"reports": out.reports})
                )
                out.prompts.append((judge_mv.name, prompt or ""))
                out.notes.append(f"loop-judge({judge_mv.name}, cycle_count={trigger.cycle_count})")
                agent, judge = script.take(judge_mv.name)
                verdict = _choose(judge_mv, _reply(judge_mv.name, 0, agent), judge, out)
                if verdict is None:
                    out.end = f"ABORT: no rule matched in {judge_mv.name}"
                    return out
                nxt, decided_by = verdict.next, f'loop judge rule "{verdict.condition}"'
        if nxt == "COMPLETE":
            out.end = "COMPLETE"
            return out
        if nxt == "ABORT":
            out.end = f"ABORT: {decided_by}"
            return out
        if len(history) >= piece.max_movements:
            out.end = f"ABORT: max_movements ({piece.max_movements})"
            return out
        current = nxt
