"""`team_leader` (pure part): the leader's prompts and answers, the parts, the aggregate.

TAKT runs the parts as concurrent workers inside one process; legato runs each part as
a run of its own on the movement's queue, so a team spreads across workers. The leader
run is visited again and again (SEMANTICS.md §7.6):

1. decompose: one structured call returns the first parts (at most `max_parts`);
2. parts are scheduled, at most `max_parts` running at once; the leader waits;
3. each part that ends wakes the leader: it schedules the next queued part and, when
   the queue is down to `refill_threshold`, asks for more parts (`{done, parts}`), up to
   20 parts in all, until it says done;
4. when every part has ended, the aggregate (`## decomposition` and one section per
   part) goes through Phase 2 and Phase 3 like a normal movement's Phase 1 answer.

Parts run in a fresh conversation, with the part persona and tools, and no prompt
framing: the part's instruction is the whole prompt. All parts failing fails the movement.
The visits themselves are the worker's (tasks.engine.leader).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pieces.model import Movement, Piece, TeamLeader
from pieces.program import Answer

MAX_TOTAL_PARTS = 20
DECOMPOSE, MORE_PARTS = "decompose", "more_parts"
_JSON_BLOCK = re.compile(r"```json\s*([\s\S]*?)```")


def _part_schema(max_parts: int, more: bool) -> dict[str, Any]:
    part = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "Unique part id"},
            "title": {"type": "string", "description": "Short title"},
            "instruction": {"type": "string", "description": "What the part's agent does"},
            "timeout_ms": {"type": ["integer", "null"], "description": "Optional timeout"},
        },
        "required": ["id", "title", "instruction", "timeout_ms"],
        "additionalProperties": False,
    }
    props: dict[str, Any] = {"parts": {"type": "array", "items": part, "maxItems": max_parts}}
    required = ["parts"]
    if more:
        props = {
            "done": {"type": "boolean", "description": "True when no more parts are needed"},
            "reasoning": {"type": "string", "description": "Why"},
            **props,
        }
        required = ["done", "reasoning", "parts"]
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


class PartsInvalid(ValueError):
    pass


def parse_parts(answer: Answer, limit: int, *, more: bool = False) -> tuple[list[dict], bool]:
    """(parts, done) from a leader's structured answer (or its last ```json block)."""
    data = answer.structured
    if data is None:
        blocks = _JSON_BLOCK.findall(answer.content or "")
        text = blocks[-1] if blocks else (answer.content or "")
        try:
            data = json.loads(text.strip())
        except ValueError as exc:
            raise PartsInvalid(f"the leader's answer is not JSON: {exc}") from None
    if isinstance(data, list) and not more:
        data = {"parts": data}
    if not isinstance(data, dict) or not isinstance(data.get("parts"), list):
        raise PartsInvalid('the leader must answer with {"parts": [...]}')
    parts = []
    seen: set[str] = set()
    for i, raw in enumerate(data["parts"]):
        if not isinstance(raw, dict):
            raise PartsInvalid(f"part {i + 1} is not an object")
        pid, title, instruction = raw.get("id"), raw.get("title"), raw.get("instruction")
        if not all(isinstance(v, str) and v.strip() for v in (pid, title, instruction)):
            raise PartsInvalid(f"part {i + 1} needs id, title and instruction")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", pid):
            raise PartsInvalid(f"part id {pid!r} must be a short identifier")
        if pid in seen:
            raise PartsInvalid(f"duplicate part id {pid!r}")
        seen.add(pid)
        timeout = raw.get("timeout_ms")
        parts.append(
            {
                "id": pid,
                "title": title.strip(),
                "instruction": instruction,
                "timeout_ms": timeout if isinstance(timeout, int) and timeout > 0 else None,
            }
        )
    if not more and not parts:
        raise PartsInvalid("the leader returned no parts")
    if len(parts) > limit:
        raise PartsInvalid(f"the leader returned {len(parts)} parts; at most {limit} allowed")
    return parts, bool(data.get("done")) if more else False


def decompose_prompt(instruction: str, max_parts: int) -> str:
    return "\n".join(
        [
            "Plan only: split the task below into independent parts. Do not do the work.",
            "- Do not use any tool.",
            f"- Give between 1 and {max_parts} parts, each complete on its own.",
            "",
            "## Original Task",
            instruction,
        ]
    )


def more_parts_prompt(instruction: str, results: list[dict], ids: list[str], budget: int) -> str:
    done = "\n\n".join(
        f"### {r['id']}: {r['title']} ({r['status']})\n{_clip(r['content'])}" for r in results
    )
    return "\n".join(
        [
            "Look at the parts finished so far and decide whether more are needed.",
            "- Do not use any tool.",
            "",
            "## Original Task",
            instruction,
            "",
            "## Finished Parts",
            done or "(none)",
            "",
            "## How to answer",
            "- done=true when nothing more is needed;",
            "- otherwise list the new parts in `parts` (several at once when you can);",
            f"- do not reuse these ids: {', '.join(ids) or '(none)'};",
            f"- at most {budget} new parts.",
        ]
    )


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + "\n...[truncated]"


def aggregate(planned: list[dict], results: list[dict]) -> str:
    sections = ["## decomposition\n" + json.dumps({"parts": planned}, indent=2, ensure_ascii=False)]
    for r in results:
        body = f"[ERROR] {r['error']}" if r["error"] else r["content"]
        sections.append(f"## {r['id']}: {r['title']}\n{body}")
    return "\n\n---\n\n".join(sections)


def part_timeout_ms(piece: Piece, run) -> int:
    """A part's time limit: its own `timeout_ms` from the decomposition, else the team's."""
    step = piece.movement(run.name.rsplit(".", 1)[0])
    own = (run.spec or {}).get("timeout_ms")
    return own or (step.team_leader.timeout_ms if step.team_leader else TeamLeader().timeout_ms)


def part_timeout_message(timeout_ms: int) -> str:
    return f"Part timeout after {timeout_ms}ms"


def part_movement(piece: Piece, run) -> Movement:
    """The movement a part runs as: the leader's movement with the part's settings."""
    step_name = run.name.rsplit(".", 1)[0]
    step = piece.movement(step_name)
    tl = step.team_leader
    spec = run.spec or {}
    return Movement(
        name=run.name,
        description=spec.get("title"),
        persona=(tl.part_persona if tl and tl.part_persona else step.persona),
        persona_file=(tl.part_persona_file if tl and tl.part_persona else step.persona_file),
        persona_name=f"{step.name}:{spec.get('id', '')}",
        instruction=spec.get("instruction", ""),
        edit=tl.part_edit if tl and tl.part_edit is not None else step.edit,
        required_permission_mode=(
            tl.part_permission_mode
            if tl and tl.part_permission_mode
            else step.required_permission_mode
        ),
        allowed_tools=(
            tl.part_allowed_tools
            if tl and tl.part_allowed_tools is not None
            else step.allowed_tools
        ),
        session="refresh",
        pass_previous_response=False,
        model=step.model,
        provider=step.provider,
        tier=step.tier,
        agent=step.agent,
    )
