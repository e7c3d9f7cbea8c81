"""The piece file as written: raw models that keep each value's YAML path.

Nothing here is resolved yet: facet references are still names or paths. ``parse.py``
fills these models leniently so that one bad value never hides the problems after it.
"""

from __future__ import annotations

from pydantic import BaseModel

FACET_KINDS = ("personas", "policies", "knowledge", "instructions", "output-contracts")

# Section map (top-level key) that may name a facet of each kind.
SECTION_OF_KIND = {
    "personas": "personas",
    "policies": "policies",
    "knowledge": "knowledge",
    "instructions": "instructions",
    "output-contracts": "report_formats",
}

PIECE_KEYS = frozenset(
    {
        "name",
        "description",
        "max_movements",
        "max_iterations",  # TAKT's older spelling of max_movements
        "initial_movement",
        "personas",
        "policies",
        "knowledge",
        "instructions",
        "report_formats",
        "movements",
        "loop_monitors",
        "piece_config",
        "answer_agent",
        "interactive_mode",
    }
)

MOVEMENT_KEYS = frozenset(
    {
        "name",
        "description",
        "persona",
        "persona_name",
        "policy",
        "knowledge",
        "instruction",
        "instruction_template",
        "edit",
        "required_permission_mode",
        "permission_mode",  # alias used by many TAKT pieces
        "allowed_tools",
        "provider_options",
        "session",
        "pass_previous_response",
        "model",
        "provider",
        "rules",
        "parallel",
        "output_contracts",
        "report",  # older TAKT spelling of output_contracts.report
        "quality_gates",
        "mcp_servers",
        "team_leader",
        "arpeggio",
        "tier",  # legato: the queue this movement runs on
        "agent",  # legato: a registered agent configuration
    }
)

RULE_KEYS = frozenset({"condition", "next", "appendix", "requires_user_input", "interactive_only"})
CONTRACT_KEYS = frozenset({"name", "format", "use_judge", "order"})
TEAM_LEADER_KEYS = frozenset(
    {
        "persona",
        "max_parts",
        "refill_threshold",
        "timeout_ms",
        "part_persona",
        "part_allowed_tools",
        "part_edit",
        "part_permission_mode",
    }
)
SESSION_MODES = ("continue", "refresh")
LOOP_MONITOR_KEYS = frozenset({"cycle", "threshold", "judge"})
JUDGE_KEYS = frozenset({"persona", "instruction", "instruction_template", "rules"})
PERMISSION_MODES = ("readonly", "edit", "full")
TERMINALS = ("COMPLETE", "ABORT")


class Ref(BaseModel):
    """A facet reference (section key, facet name, path or inline text) and where it was."""

    value: str
    path: str


class RawRule(BaseModel):
    path: str
    condition: str | None = None
    next: str | None = None
    appendix: str | None = None
    requires_user_input: bool = False
    interactive_only: bool = False


class RawContract(BaseModel):
    path: str
    name: str
    label: str | None = None
    format: Ref | None = None
    order: Ref | None = None
    use_judge: bool = True


class RawTeamLeader(BaseModel):
    path: str
    persona: Ref | None = None
    max_parts: int = 3
    refill_threshold: int = 0
    timeout_ms: int = 600_000
    part_persona: Ref | None = None
    part_allowed_tools: list[str] | None = None
    part_edit: bool | None = None
    part_permission_mode: str | None = None


class RawMovement(BaseModel):
    path: str
    name: str | None = None
    description: str | None = None
    persona: Ref | None = None
    persona_name: str | None = None
    policy: list[Ref] = []
    knowledge: list[Ref] = []
    instruction: Ref | None = None
    instruction_template: Ref | None = None
    edit: bool | None = None
    required_permission_mode: str | None = None
    allowed_tools: list[str] = []
    tools_given: bool = False  # else the piece's default tools apply
    session: str | None = None
    pass_previous_response: bool = True
    model: str | None = None
    provider: str | None = None
    rules: list[RawRule] = []
    rules_given: bool = False
    parallel: list[RawMovement] = []
    is_parallel: bool = False
    contracts: list[RawContract] = []
    quality_gates: list[str] = []
    tier: str | None = None
    agent: str | None = None
    team_leader: RawTeamLeader | None = None


class RawJudge(BaseModel):
    path: str
    persona: Ref | None = None
    instruction: Ref | None = None
    instruction_template: Ref | None = None
    rules: list[RawRule] = []


class RawLoopMonitor(BaseModel):
    path: str
    cycle: list[str] = []
    threshold: int | None = None
    judge: RawJudge | None = None


class RawPiece(BaseModel):
    name: str | None = None
    # piece_config.provider_options.*.allowed_tools: the tools of movements naming none.
    default_tools: list[str] | None = None
    description: str | None = None
    max_movements: int = 10
    initial_movement: str | None = None
    # kind -> key -> (value, YAML path)
    sections: dict[str, dict[str, Ref]] = {}
    movements: list[RawMovement] = []
    loop_monitors: list[RawLoopMonitor] = []
