"""Small builders for resolved movements, so rule tests need no YAML."""

from __future__ import annotations

from pieces import Movement, Rule, parse_condition


def rules(*specs: str | tuple[str, str | None]) -> list[Rule]:
    out = []
    for i, spec in enumerate(specs):
        raw, nxt = spec if isinstance(spec, tuple) else (spec, f"next{i}")
        cond = parse_condition(raw)
        out.append(Rule(index=i, condition=cond.text, kind=cond.kind, args=cond.args, next=nxt))
    return out


def movement(*specs: str | tuple[str, str | None], name: str = "m", **kw) -> Movement:
    return Movement(name=name, rules=rules(*specs), **kw)


def parallel(subs: dict[str, list[str]], *specs: str) -> Movement:
    children = [
        Movement(name=n, rules=rules(*[(c, None) for c in conds])) for n, conds in subs.items()
    ]
    return Movement(name="par", parallel=children, rules=rules(*specs))
