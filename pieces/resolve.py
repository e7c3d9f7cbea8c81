"""From a raw 0.31 piece to the resolved model: facet texts inlined, conditions parsed."""

from __future__ import annotations

from pieces.conditions import ConditionSyntaxError, parse_piece_condition
from pieces.facets import FacetResolver
from pieces.model import LoopMonitor, Movement, OutputContract, Piece, Rule, TeamLeader
from pieces.schema import PERMISSION_MODES, RawJudge, RawMovement, RawPiece, RawRule, RawTeamLeader


def _rule(index: int, raw: RawRule) -> Rule:
    text = raw.condition or ""
    try:
        cond = parse_piece_condition(text)
        kind, label, args = cond.kind, cond.label, cond.args
    except ConditionSyntaxError:  # reported by validation; keep the rule readable
        kind, label, args = "label", text, []
    return Rule(
        index=index,
        condition=text,
        kind=kind,
        label=label,
        args=args,
        next=raw.next,
        appendix=raw.appendix,
        requires_user_input=raw.requires_user_input,
        interactive_only=raw.interactive_only,
    )


def _instruction(res: FacetResolver, raw: RawMovement | RawJudge) -> str | None:
    # TAKT: `instruction` wins; `instruction_template` is its deprecated alias.
    return res.resolve("instructions", raw.instruction) or res.resolve(
        "instructions", raw.instruction_template
    )


def _mode(value: str | None):
    return value if value in PERMISSION_MODES else None


def _team_leader(res: FacetResolver, raw: RawTeamLeader | None) -> TeamLeader | None:
    if raw is None:
        return None
    persona, persona_file = res.resolve_with_origin("personas", raw.persona)
    part, part_file = res.resolve_with_origin("personas", raw.part_persona)
    return TeamLeader(
        persona=persona,
        persona_file=persona_file,
        max_parts=raw.max_parts,
        refill_threshold=raw.refill_threshold,
        timeout_ms=raw.timeout_ms,
        part_persona=part,
        part_persona_file=part_file,
        part_allowed_tools=raw.part_allowed_tools,
        part_edit=raw.part_edit,
        part_permission_mode=_mode(raw.part_permission_mode),
    )


def _movement(
    res: FacetResolver, raw: RawMovement, default_tools: list[str] | None = None
) -> Movement:
    persona, persona_file = res.resolve_with_origin("personas", raw.persona)
    contracts = [
        OutputContract(
            name=c.name,
            label=c.label,
            format=res.resolve("output-contracts", c.format),
            order=res.resolve("output-contracts", c.order),
            use_judge=c.use_judge,
        )
        for c in raw.contracts
    ]
    team_leader = _team_leader(res, raw.team_leader)
    kind = "parallel" if raw.is_parallel else "team_leader" if team_leader else "agent"
    return Movement(
        name=raw.name or "",
        description=raw.description,
        kind=kind,
        persona=persona,
        persona_file=persona_file,
        persona_name=raw.persona_name,
        policies=[t for ref in raw.policy if (t := res.resolve("policies", ref))],
        knowledge=[t for ref in raw.knowledge if (t := res.resolve("knowledge", ref))],
        instruction=_instruction(res, raw) or "{task}",
        edit=raw.edit,
        required_permission_mode=_mode(raw.required_permission_mode),
        allowed_tools=raw.allowed_tools if raw.tools_given else list(default_tools or []),
        session=raw.session or "continue",
        pass_previous_response=raw.pass_previous_response,
        model=raw.model,
        provider=raw.provider,
        rules=[_rule(i, r) for i, r in enumerate(raw.rules)],
        parallel=[_movement(res, sub, default_tools) for sub in raw.parallel],
        team_leader=team_leader,
        output_contracts=contracts,
        quality_gates=raw.quality_gates,
        tier=raw.tier,
        agent=raw.agent,
    )


def _judge(res: FacetResolver, raw: RawJudge | None) -> Movement | None:
    if raw is None:
        return None
    persona, persona_file = res.resolve_with_origin("personas", raw.persona)
    return Movement(
        name="loop-judge",
        persona=persona,
        persona_file=persona_file,
        instruction=_instruction(res, raw) or "",  # empty: the default judge text
        edit=False,
        rules=[_rule(i, r) for i, r in enumerate(raw.rules)],
    )


def build_piece(
    raw: RawPiece, res: FacetResolver, default_name: str | None, source: str | None
) -> Piece | None:
    """Resolve every facet (recording problems on ``res``); a Piece only when buildable."""
    movements = [_movement(res, mv, raw.default_tools) for mv in raw.movements]
    monitors = [(lm, _judge(res, lm.judge)) for lm in raw.loop_monitors]
    name = raw.name or default_name
    if not name or not movements:
        return None
    return Piece(
        name=name,
        description=raw.description,
        max_movements=raw.max_movements,
        initial_movement=raw.initial_movement or movements[0].name,
        movements=movements,
        loop_monitors=[
            LoopMonitor(cycle=lm.cycle, threshold=lm.threshold or 3, judge=judge)
            for lm, judge in monitors
        ],
        source=source,
    )
