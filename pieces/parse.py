"""Turn parsed YAML into raw models, collecting every type problem with its YAML path.

A bad value is reported and replaced by its default, so that later checks (unknown
``next``, duplicate names, missing facets) still run and the author sees everything at once.
"""

from __future__ import annotations

from typing import Any

from pieces.problems import Problem, did_you_mean
from pieces.schema import (
    CONTRACT_KEYS,
    JUDGE_KEYS,
    LOOP_MONITOR_KEYS,
    MOVEMENT_KEYS,
    PIECE_KEYS,
    RULE_KEYS,
    SECTION_OF_KIND,
    SESSION_MODES,
    TEAM_LEADER_KEYS,
    RawContract,
    RawJudge,
    RawLoopMonitor,
    RawMovement,
    RawPiece,
    RawRule,
    RawTeamLeader,
    Ref,
)

_MISSING = object()


def at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def describe(value: Any) -> str:
    """A short, type-first description of a YAML value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quote_hint(value: Any) -> str | None:
    if isinstance(value, bool):
        return "YAML reads unquoted yes/no/on/off/true/false as booleans; quote the text"
    if isinstance(value, int | float):
        return "quote it to make it text"
    return None


class Walker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "error"))

    def warn(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint, "warning"))

    # --- typed getters: report, then fall back to the default -----------------------

    def mapping(self, value: Any, path: str, what: str = "a mapping") -> dict | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"expected {what}, got {describe(value)}")
        return None

    def string(self, m: dict, key: str, path: str, required: bool = False) -> str | None:
        value = m.get(key, _MISSING)
        if value is _MISSING or (value is None and not required):
            if required:
                self.error(at(path, key), "missing required key")
            return None
        if isinstance(value, str):
            if required and not value.strip():
                self.error(at(path, key), "must not be empty")
                return None
            return value
        self.error(at(path, key), f"expected a string, got {describe(value)}", _quote_hint(value))
        return None

    def boolean(self, m: dict, key: str, path: str) -> bool | None:
        value = m.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.error(at(path, key), f"expected true or false, got {describe(value)}")
        return None

    def integer(self, m: dict, key: str, path: str, minimum: int = 1) -> int | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(at(path, key), f"expected an integer, got {describe(value)}")
            return None
        if value < minimum:
            self.error(at(path, key), f"must be at least {minimum}, got {value}")
            return None
        return value

    def strings(self, m: dict, key: str, path: str) -> list[str]:
        """One string or a list of strings."""
        return [r.value for r in self.refs(m, key, path)]

    def refs(self, m: dict, key: str, path: str) -> list[Ref]:
        value = m.get(key)
        where = at(path, key)
        if value is None:
            return []
        if isinstance(value, str):
            return [Ref(value=value, path=where)]
        if not isinstance(value, list):
            self.error(where, f"expected a string or a list of strings, got {describe(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(Ref(value=item, path=at(where, i)))
            else:
                self.error(at(where, i), f"expected a string, got {describe(item)}")
        return out

    def ref(self, m: dict, key: str, path: str) -> Ref | None:
        value = self.string(m, key, path)
        return Ref(value=value, path=at(path, key)) if value is not None else None

    def items(self, m: dict, key: str, path: str) -> list[tuple[str, Any]]:
        """(path, item) for each element of a list-valued key."""
        value = m.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(at(path, key), f"expected a list, got {describe(value)}")
            return []
        return [(at(at(path, key), i), item) for i, item in enumerate(value)]

    def unknown_keys(self, m: dict, known: frozenset[str], path: str) -> None:
        for key in m:
            if str(key) not in known:
                self.warn(at(path, str(key)), "unknown key", did_you_mean(str(key), known))


def parse_piece(data: Any) -> tuple[RawPiece, list[Problem]]:
    w = Walker()
    raw = RawPiece()
    m = w.mapping(data, "", "the piece to be a mapping")
    if m is None:
        return raw, w.problems
    w.unknown_keys(m, PIECE_KEYS, "")
    raw.name = w.string(m, "name", "")
    raw.description = w.string(m, "description", "")
    limit = w.integer(m, "max_movements", "")
    if "max_iterations" in m:
        older = w.integer(m, "max_iterations", "")
        if limit is None and "max_movements" not in m:
            limit = older
        elif "max_movements" in m:
            w.warn("max_iterations", "ignored because max_movements is also given")
    raw.max_movements = limit or 10
    raw.initial_movement = w.string(m, "initial_movement", "")
    for kind, section in SECTION_OF_KIND.items():
        raw.sections[kind] = _section(w, m, section)
    if "movements" not in m:
        w.error("movements", "missing required key", "a piece needs at least one movement")
    elif isinstance(m["movements"], list) and not m["movements"]:
        w.error("movements", "must list at least one movement")
    raw.movements = [
        mv
        for path, item in w.items(m, "movements", "")
        if (mv := _movement(w, item, path, nested=False)) is not None
    ]
    raw.loop_monitors = [
        lm
        for path, item in w.items(m, "loop_monitors", "")
        if (lm := _loop_monitor(w, item, path)) is not None
    ]
    config = m.get("piece_config")
    if config is not None and (cm := w.mapping(config, "piece_config")) is not None:
        _piece_config(w, cm, raw)
    return raw, w.problems


def _piece_config(w: Walker, m: dict, raw: RawPiece) -> None:
    """`piece_config.provider_options.<p>.allowed_tools` is every movement's default tool
    list (a movement's own provider_options replace it, as TAKT merges them); the other
    provider settings mean nothing to legato and are reported once each."""
    for key, value in m.items():
        where = at("piece_config", str(key))
        if key != "provider_options":
            _ignored(w, {key: value}, "piece_config")
            continue
        for provider, options in (w.mapping(value, where) or {}).items():
            ppath = at(where, str(provider))
            for name, setting in (w.mapping(options, ppath) or {}).items():
                if name == "allowed_tools":
                    tools = w.strings(options, "allowed_tools", ppath)
                    raw.default_tools = list(dict.fromkeys([*(raw.default_tools or []), *tools]))
                else:
                    _ignored(w, {name: setting}, ppath)


def _ignored(w: Walker, m: dict, path: str) -> None:
    """Warn once per leaf so the author sees exactly which settings have no effect."""
    for key, value in m.items():
        where = at(path, str(key))
        if isinstance(value, dict) and value:
            _ignored(w, value, where)
        else:
            w.warn(where, "ignored by legato", "provider-specific option")


def _section(w: Walker, m: dict, section: str) -> dict[str, Ref]:
    value = m.get(section)
    if value is None:
        return {}
    sm = w.mapping(value, section, "a mapping of name to file path")
    out: dict[str, Ref] = {}
    for key, item in (sm or {}).items():
        path = at(section, str(key))
        if isinstance(item, str) and item.strip():
            out[str(key)] = Ref(value=item, path=path)
        else:
            w.error(path, f"expected a file path, got {describe(item)}")
    return out


def _rules(w: Walker, m: dict, path: str) -> list[RawRule]:
    rules = []
    for rpath, item in w.items(m, "rules", path):
        rm = w.mapping(item, rpath)
        if rm is None:
            continue
        w.unknown_keys(rm, RULE_KEYS, rpath)
        rules.append(
            RawRule(
                path=rpath,
                condition=w.string(rm, "condition", rpath, required=True),
                next=w.string(rm, "next", rpath),
                appendix=w.string(rm, "appendix", rpath),
                requires_user_input=bool(w.boolean(rm, "requires_user_input", rpath)),
                interactive_only=bool(w.boolean(rm, "interactive_only", rpath)),
            )
        )
    return rules


def _movement(w: Walker, item: Any, path: str, nested: bool) -> RawMovement | None:
    m = w.mapping(item, path)
    if m is None:
        return None
    w.unknown_keys(m, MOVEMENT_KEYS, path)
    mv = RawMovement(path=path)
    mv.name = w.string(m, "name", path, required=True)
    mv.description = w.string(m, "description", path)
    mv.persona = w.ref(m, "persona", path)
    mv.persona_name = w.string(m, "persona_name", path)
    mv.policy = w.refs(m, "policy", path)
    mv.knowledge = w.refs(m, "knowledge", path)
    mv.instruction = w.ref(m, "instruction", path)
    mv.instruction_template = w.ref(m, "instruction_template", path)
    if mv.instruction_template is not None:
        w.warn(
            at(path, "instruction_template"),
            "deprecated alias of instruction",
            "TAKT reads it as instruction; rename the key",
        )
    mv.edit = w.boolean(m, "edit", path)
    mode_key = "required_permission_mode" if "required_permission_mode" in m else "permission_mode"
    mv.required_permission_mode = w.string(m, mode_key, path)
    mv.allowed_tools = w.strings(m, "allowed_tools", path)
    mv.tools_given = "allowed_tools" in m
    mv.session = w.string(m, "session", path)
    if mv.session is not None and mv.session not in SESSION_MODES:
        w.error(
            at(path, "session"),
            f'unknown session mode "{mv.session}"',
            did_you_mean(mv.session, SESSION_MODES) or "continue or refresh",
        )
        mv.session = None
    previous = w.boolean(m, "pass_previous_response", path)
    mv.pass_previous_response = True if previous is None else previous
    mv.model = w.string(m, "model", path)
    mv.provider = w.string(m, "provider", path)
    mv.tier = w.string(m, "tier", path)
    mv.agent = w.string(m, "agent", path)
    mv.quality_gates = w.strings(m, "quality_gates", path)
    mv.rules_given = m.get("rules") is not None
    mv.rules = _rules(w, m, path)
    _provider_options(w, m, path, mv)
    mv.contracts = _contracts(w, m, path)
    if m.get("team_leader") is not None:
        mv.team_leader = _team_leader(w, m["team_leader"], at(path, "team_leader"))
    if "arpeggio" in m:
        w.error(
            at(path, "arpeggio"),
            "arpeggio is not supported by legato",
            "no TAKT builtin piece uses it; split the data into jobs instead",
        )
    exclusive = [k for k in ("parallel", "team_leader", "arpeggio") if m.get(k) is not None]
    if len(exclusive) > 1:
        w.error(path, f"{' and '.join(exclusive)} are mutually exclusive")
    if "parallel" in m:
        mv.is_parallel = True
        if nested:
            w.error(at(path, "parallel"), "parallel movements cannot be nested")
        else:
            mv.parallel = [
                sub
                for spath, sitem in w.items(m, "parallel", path)
                if (sub := _movement(w, sitem, spath, nested=True)) is not None
            ]
            if not mv.parallel and isinstance(m["parallel"], list):
                w.error(at(path, "parallel"), "must list at least one sub-movement")
    return mv


def _provider_options(w: Walker, m: dict, path: str, mv: RawMovement) -> None:
    value = m.get("provider_options")
    if value is None:
        return
    where = at(path, "provider_options")
    for provider, options in (w.mapping(value, where) or {}).items():
        ppath = at(where, str(provider))
        om = w.mapping(options, ppath)
        for key in om or {}:
            if key == "allowed_tools":
                mv.tools_given = True
                for tool in w.strings(om, "allowed_tools", ppath):
                    if tool not in mv.allowed_tools:
                        mv.allowed_tools.append(tool)
            else:
                w.warn(at(ppath, str(key)), "provider option ignored by legato")


def _contracts(w: Walker, m: dict, path: str) -> list[RawContract]:
    if "output_contracts" in m and m["output_contracts"] is not None:
        where = at(path, "output_contracts")
        om = w.mapping(m["output_contracts"], where) or {}
        for key in om:
            if key != "report":
                w.warn(at(where, str(key)), "unknown key", did_you_mean(str(key), ["report"]))
        value, where = om.get("report"), at(where, "report")
    elif m.get("report") is not None:
        value, where = m["report"], at(path, "report")
    else:
        return []
    if value is None:
        return []
    if isinstance(value, list):
        entries = [(at(where, i), item) for i, item in enumerate(value)]
    else:
        entries = [(where, value)]
    return [c for cpath, item in entries if (c := _contract(w, item, cpath)) is not None]


def _contract(w: Walker, item: Any, path: str) -> RawContract | None:
    if isinstance(item, str) and item.strip():
        return RawContract(path=path, name=item.strip())
    cm = w.mapping(item, path, "a report entry ({name, format} or {Label: file})")
    if cm is None:
        return None
    if "name" in cm:
        w.unknown_keys(cm, CONTRACT_KEYS, path)
        name = w.string(cm, "name", path, required=True)
        if name is None:
            return None
        use_judge = w.boolean(cm, "use_judge", path)
        return RawContract(
            path=path,
            name=name.strip(),
            format=w.ref(cm, "format", path),
            order=w.ref(cm, "order", path),
            use_judge=True if use_judge is None else use_judge,
        )
    if len(cm) != 1:
        w.error(path, "expected {name, format, use_judge} or a single {Label: file} pair")
        return None
    label, file = next(iter(cm.items()))
    if not isinstance(file, str) or not file.strip():
        w.error(at(path, str(label)), f"expected a report file name, got {describe(file)}")
        return None
    return RawContract(path=path, name=file.strip(), label=str(label))


def _team_leader(w: Walker, item: Any, path: str) -> RawTeamLeader | None:
    m = w.mapping(item, path)
    if m is None:
        return None
    w.unknown_keys(m, TEAM_LEADER_KEYS, path)
    tl = RawTeamLeader(path=path)
    tl.persona = w.ref(m, "persona", path)
    tl.part_persona = w.ref(m, "part_persona", path)
    max_parts = w.integer(m, "max_parts", path)
    if max_parts is not None and max_parts > 3:
        w.error(at(path, "max_parts"), f"must be at most 3, got {max_parts}")
    elif max_parts is not None:
        tl.max_parts = max_parts
    refill = w.integer(m, "refill_threshold", path, minimum=0)
    if refill is not None:
        tl.refill_threshold = refill
    if tl.refill_threshold > tl.max_parts:
        w.error(at(path, "refill_threshold"), "must be less than or equal to max_parts")
    timeout = w.integer(m, "timeout_ms", path)
    if timeout is not None:
        tl.timeout_ms = timeout
    if "part_allowed_tools" in m:
        tl.part_allowed_tools = w.strings(m, "part_allowed_tools", path)
    tl.part_edit = w.boolean(m, "part_edit", path)
    tl.part_permission_mode = w.string(m, "part_permission_mode", path)
    return tl


def _loop_monitor(w: Walker, item: Any, path: str) -> RawLoopMonitor | None:
    m = w.mapping(item, path)
    if m is None:
        return None
    w.unknown_keys(m, LOOP_MONITOR_KEYS, path)
    lm = RawLoopMonitor(path=path)
    if "cycle" not in m:
        w.error(at(path, "cycle"), "missing required key")
    lm.cycle = w.strings(m, "cycle", path)
    if "cycle" in m and len(lm.cycle) < 2 and isinstance(m["cycle"], list):
        w.error(at(path, "cycle"), "must name at least two movements")
    lm.threshold = w.integer(m, "threshold", path)
    if m.get("judge") is None:
        w.error(
            at(path, "judge"), "missing required key", "a loop monitor needs a judge with rules"
        )
    else:
        jpath = at(path, "judge")
        jm = w.mapping(m["judge"], jpath)
        if jm is not None:
            w.unknown_keys(jm, JUDGE_KEYS, jpath)
            lm.judge = RawJudge(
                path=jpath,
                persona=w.ref(jm, "persona", jpath),
                instruction=w.ref(jm, "instruction", jpath),
                instruction_template=w.ref(jm, "instruction_template", jpath),
                rules=_rules(w, jm, jpath),
            )
            if not lm.judge.rules:
                w.error(at(jpath, "rules"), "a loop judge needs at least one rule")
    return lm
