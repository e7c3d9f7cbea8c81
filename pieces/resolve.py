"""From raw models to a resolved Piece: facet texts inlined, conditions parsed."""

from __future__ import annotations

from pieces.conditions import ConditionSyntaxError, parse_condition
from pieces.facets import FacetResolver
from pieces.model import LoopMonitor, Movement, OutputContract, Piece, Rule
from pieces.schema import PERMISSION_MODES, RawJudge, RawMovement, RawPiece, RawRule

# What a movement written without rules does: finish the piece.
IMPLICIT_RULE = Rule(index=0, condition="Done", next="COMPLETE")


def _rule(index: int, raw: RawRule) -> Rule:
    try:
        cond = parse_condition(raw.condition or "")
        kind, text, args = cond.kind, cond.text, cond.args
    except ConditionSyntaxError:
        kind, text, args = "text", (raw.condition or "").strip(), []
    return Rule(
        index=index,
        condition=text,
        kind=kind,
        args=args,
        next=raw.next,
        appendix=raw.appendix,
        requires_user_input=raw.requires_user_input,
        interactive_only=raw.interactive_only,
    )


def _instruction(res: FacetResolver, raw: RawMovement | RawJudge) -> str | None:
    if raw.instruction_template is not None:
        return raw.instruction_template.strip()
    return res.resolve("instructions", raw.instruction)


def _movement(res: FacetResolver, raw: RawMovement, top_level: bool) -> Movement:
    rules = [_rule(i, r) for i, r in enumerate(raw.rules)]
    if top_level and not raw.rules_given and not raw.is_parallel:
        rules = [IMPLICIT_RULE]
    mode = (
        raw.required_permission_mode if raw.required_permission_mode in PERMISSION_MODES else None
    )
    contracts = [
        OutputContract(
            name=c.name,
            label=c.label,
            format=res.resolve("output-contracts", c.format),
            use_judge=c.use_judge,
        )
        for c in raw.contracts
    ]
    return Movement(
        name=raw.name or "",
        persona=res.resolve("personas", raw.persona),
        persona_name=raw.persona_name,
        policies=[t for ref in raw.policy if (t := res.resolve("policies", ref))],
        knowledge=[t for ref in raw.knowledge if (t := res.resolve("knowledge", ref))],
        instruction=_instruction(res, raw),
        edit=raw.edit,
        required_permission_mode=mode,
        allowed_tools=raw.allowed_tools,
        session=raw.session,
        pass_previous_response=raw.pass_previous_response,
        model=raw.model,
        provider=raw.provider,
        rules=rules,
        parallel=[_movement(res, sub, top_level=False) for sub in raw.parallel],
        output_contracts=contracts,
        quality_gates=raw.quality_gates,
        tier=raw.tier,
        agent=raw.agent,
    )


def _default_judge_instruction(cycle: list[str]) -> str:
    loop = " → ".join(cycle)
    return (
        f"The movements {loop} have now run in this order {{cycle_count}} times in a row. "
        "Judge from the previous response and the reports whether this loop is still "
        "making progress, and decide where the job goes next."
    )


def _judge(
    res: FacetResolver, index: int, raw: RawJudge | None, cycle: list[str]
) -> Movement | None:
    if raw is None:
        return None
    return Movement(
        name=f"loop_monitors[{index}].judge",
        persona=res.resolve("personas", raw.persona),
        instruction=_instruction(res, raw) or _default_judge_instruction(cycle),
        edit=False,
        required_permission_mode="readonly",
        rules=[_rule(i, r) for i, r in enumerate(raw.rules)],
    )


def build_piece(
    raw: RawPiece, res: FacetResolver, default_name: str | None, source: str | None
) -> Piece | None:
    """Resolve every facet (recording problems on ``res``); a Piece only when buildable."""
    movements = [_movement(res, mv, top_level=True) for mv in raw.movements]
    monitors = [(lm, _judge(res, i, lm.judge, lm.cycle)) for i, lm in enumerate(raw.loop_monitors)]
    name = raw.name or default_name
    if not name or not movements:
        return None
    initial = raw.initial_movement or movements[0].name
    return Piece(
        name=name,
        description=raw.description,
        max_movements=raw.max_movements,
        initial_movement=initial,
        movements=movements,
        loop_monitors=[
            LoopMonitor(cycle=lm.cycle, threshold=lm.threshold or 1, judge=judge)
            for lm, judge in monitors
        ],
        source=source,
    )
