"""Small builders for resolved pieces and movements, so rule tests need no YAML."""

from __future__ import annotations

from pieces import Movement, Piece, Rule, parse_piece_condition


def rules(*specs: str | tuple[str, str | None], **flags) -> list[Rule]:
    out = []
    for i, spec in enumerate(specs):
        raw, nxt = spec if isinstance(spec, tuple) else (spec, f"next{i}")
        cond = parse_piece_condition(raw)
        out.append(
            Rule(
                index=i,
                condition=raw,
                kind=cond.kind,
                label=cond.label,
                args=cond.args,
                next=nxt,
                **flags,
            )
        )
    return out


def movement(*specs: str | tuple[str, str | None], name: str = "m", **kw) -> Movement:
    return Movement(name=name, rules=rules(*specs), **kw)


def parallel(subs: dict[str, list[str]], *specs: str, name: str = "par") -> Movement:
    children = [
        Movement(name=n, rules=rules(*[(c, None) for c in conds])) for n, conds in subs.items()
    ]
    return Movement(name=name, kind="parallel", parallel=children, rules=rules(*specs))


def piece(*movements: Movement, **kw) -> Piece:
    return Piece(
        name=kw.pop("name", "p"),
        initial_movement=movements[0].name,
        movements=list(movements),
        **kw,
    )
