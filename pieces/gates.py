"""Command quality gates (TAKT v0.60 ``quality_gates: [{type: command, …}]``).

After a step finished ``done`` with its rule chosen, its command gates run in order in
the job's workspace, stopping at the first that fails (the worker runs them,
``tasks.engine.gates``, under the Bash tool's rules). A failed gate discards the rule:
the failure report becomes the step's output and the **same step runs again** as a new
iteration, its Phase 1 seeing the report as the previous response. Only the step
budget (``max_steps``) bounds the re-runs, as in TAKT. A deployment without shell
access refuses the gate; the run then fails with that reason instead of looping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pieces.exchange import Answer, Call, find
from pieces.model import Movement, QualityGate

GATE = "quality_gate"
FIELD_CHARS = 1000


@dataclass(frozen=True)
class Failed:
    report: str


@dataclass(frozen=True)
class Refused:
    reason: str


def label(gate: QualityGate) -> str:
    return gate.name or gate.command


def gate_call(index: int, gate: QualityGate) -> Call:
    return Call(
        GATE,
        4,
        gate.command,
        name=f"{index + 1}. {label(gate)}"[:200],
        local={
            "type": "command",
            "command": gate.command,
            "name": label(gate),
            "cwd": gate.cwd,
            "timeout_ms": gate.timeout_ms,
        },
    )


def check(movement: Movement, answers: Sequence[Answer]) -> Call | Failed | Refused | None:
    """The next gate to run, the first failure, a refusal, or None when all passed."""
    for index, gate in enumerate(movement.gate_commands):
        call = gate_call(index, gate)
        answer = find(list(answers), call.kind, call.name)
        if answer is None:
            return call
        if answer.status == "done":
            continue
        data = answer.structured if isinstance(answer.structured, dict) else {}
        if data.get("refused"):
            return Refused(answer.error or answer.content)
        return Failed(answer.content)
    return None


def _cap(text: str) -> str:
    return text if len(text) <= FIELD_CHARS else text[:FIELD_CHARS] + "…"


def failure_report(name: str, command: str, cwd: str, outcome: str, log: str) -> str:
    """TAKT's report of a failed gate: what ran and why it failed, and where its output
    is (the output itself stays in the log, out of the prompt)."""
    return "\n".join(
        [
            f"Quality gate failed: {_cap(name)}",
            "Type: command",
            f"Command: {_cap(command)}",
            f"Cwd: {_cap(cwd)}",
            outcome,
            "",
            f"Output log: {_cap(log)}",
        ]
    )


def parallel_failure(member: str, report: str) -> str:
    return f"Parallel sub-step quality gate failed: {member}\n\n{report}"
