"""Command quality gates, their route, and a parallel parent's error and gate handling."""

from __future__ import annotations

from pieces import Answer, Movement, MovementSpec, Outcome, Piece, SubResult, next_step, route
from pieces.dynamic import Fanout
from pieces.gates import GATE, Failed, Refused, check, failure_report, gate_call
from pieces.loops import history_of
from pieces.model import DynamicParallel, QualityGate, Rule
from pieces.program import EXECUTE
from pieces.workflow.conditions import parse_condition, rule_fields
from pieces.workflow_rules import MAX_EXPLICIT_PARALLEL_ERROR_RETRIES


def gated(*commands: str) -> Movement:
    return Movement(
        name="build",
        gate_commands=[QualityGate(command=c, name=f"g{i}") for i, c in enumerate(commands)],
        rules=[Rule(index=0, condition="built", label="built", next="ship")],
    )


def workflow(*movements: Movement, limit: int | None = 10) -> Piece:
    ship = Movement(
        name="ship", rules=[Rule(index=0, condition="done", label="done", next="COMPLETE")]
    )
    return Piece(
        name="w",
        dialect="workflow",
        initial_movement=movements[0].name,
        movements=[*movements, ship],
        max_movements=limit,
    )


def gate_answer(index: int, movement: Movement, status: str = "done", **extra) -> Answer:
    call = gate_call(index, movement.gate_commands[index])
    return Answer(call.kind, extra.pop("content", "ok"), call.name, status, extra or None)


def test_gates_run_in_order_and_stop_at_the_first_failure() -> None:
    movement = gated("make", "make test", "make lint")
    first = check(movement, [])
    assert first.kind == GATE and first.phase == 4 and first.name == "1. g0"
    assert first.local == {
        "type": "command",
        "command": "make",
        "name": "g0",
        "cwd": None,
        "timeout_ms": 300_000,
    }
    done = [gate_answer(0, movement)]
    assert check(movement, done).name == "2. g1"
    failed = [*done, gate_answer(1, movement, "error", content="report")]
    assert check(movement, failed) == Failed("report")
    refused = [gate_answer(0, movement, "error", content="off", refused=True)]
    assert check(movement, refused) == Refused("off")
    assert check(movement, [*done, gate_answer(1, movement), gate_answer(2, movement)]) is None


def test_a_failed_gate_discards_the_rule_and_the_step_runs_again() -> None:
    movement = gated("make")
    piece = workflow(movement)
    spec = MovementSpec(piece=piece, movement=movement, phase1_prompt="p")
    answers = [Answer(EXECUTE, "work")]
    assert next_step(spec, answers).kind == GATE  # one label: auto_select, then the gate
    out = next_step(
        spec, [*answers, gate_answer(0, movement, "error", content="Quality gate failed")]
    )
    assert (out.status, out.content, out.rule_index, out.method, out.gate_failed) == (
        "done",
        "Quality gate failed",
        None,
        "quality_gate",
        True,
    )
    again = route(piece, movement, out, iteration=3, history=["build"])
    assert (again.kind, again.target, again.next_label) == ("quality_gate", "build", "build")
    assert route(workflow(movement, limit=3), movement, out, iteration=3, history=[]).reason == (
        "Max steps reached"
    )
    passed = next_step(spec, [*answers, gate_answer(0, movement)])
    assert (passed.rule_index, passed.method) == (0, "auto_select")
    refused = next_step(
        spec, [*answers, gate_answer(0, movement, "error", content="no shell", refused=True)]
    )
    assert (refused.status, refused.failure) == ("error", "no shell")


def test_a_gate_rerun_is_not_a_transition_for_the_loop_history() -> None:
    runs = [
        ("build", "agent", "quality_gate"),
        ("build", "agent", "movement"),
        ("ship", "agent", "movement"),
    ]
    assert history_of(runs) == ["build", "ship"]


def test_the_failure_report_names_the_log_not_the_output() -> None:
    report = failure_report("tests", "make test", ".", "Exit code: 2", "logs/quality-gates/x.log")
    assert report == (
        "Quality gate failed: tests\nType: command\nCommand: make test\nCwd: .\nExit code: 2\n\n"
        "Output log: logs/quality-gates/x.log"
    )
    assert len(failure_report("n" * 5000, "c", ".", "Exit code: 1", "l").splitlines()[0]) < 1100


# -- a parallel parent ------------------------------------------------------------------


def _rule(i: int, condition: str, next_: str) -> Rule:
    kind, label, args, when = rule_fields(parse_condition(condition))
    return Rule(
        index=i, condition=condition, kind=kind, label=label, args=args, when=when, next=next_
    )


def parent(dynamic: bool = False) -> Movement:
    members = [
        Movement(name=n, description="d", rules=[Rule(index=0, condition="ok", label="ok")])
        for n in ("a", "b")
    ]
    return Movement(
        name="review",
        kind="parallel",
        parallel=members,
        dynamic=DynamicParallel(fixed=["a"], pool=["b"], pool_descriptions={"b": "d"})
        if dynamic
        else None,
        rules=[_rule(0, 'any("error")', "recover"), _rule(1, 'all("ok")', "ship")],
    )


def visit(movement: Movement, subs=(), participants=None, streak: int = 0):
    piece = workflow(movement)
    spec = MovementSpec(
        piece=piece,
        movement=movement,
        sub_results=tuple(subs),
        participants=participants,
        error_streak=streak,
    )
    return next_step(spec, [])


def test_a_parallel_parent_first_starts_its_members() -> None:
    assert visit(parent()) == Fanout(("a", "b"))
    assert visit(parent(dynamic=True)).kind == "parallel_select"


def test_aggregates_count_only_the_members_that_took_part() -> None:
    ok = SubResult("a", "fine", "ok")
    out = visit(parent(dynamic=True), [ok], participants=("a",))
    assert (out.rule_index, out.method) == (1, "aggregate")


def test_error_routing_is_allowed_three_visits_in_a_row_then_aborts() -> None:
    failed = [SubResult("a", "", None, error="boom"), SubResult("b", "fine", "ok")]
    below = visit(parent(), failed, ("a", "b"), streak=MAX_EXPLICIT_PARALLEL_ERROR_RETRIES - 1)
    assert (below.status, below.rule_index) == ("done", 0)
    over = visit(parent(), failed, ("a", "b"), streak=MAX_EXPLICIT_PARALLEL_ERROR_RETRIES)
    assert over.status == "error" and over.abort_kind == "runtime_error"
    assert over.failure == 'Parallel step "review" exceeded its explicit error retry limit (3)'


def test_a_members_failed_gate_runs_the_whole_parallel_step_again() -> None:
    subs = [
        SubResult("a", "fine", "ok"),
        SubResult("b", "Quality gate failed: x", None, gate_failed=True),
    ]
    out = visit(parent(), subs, ("a", "b"))
    assert isinstance(out, Outcome) and out.gate_failed and out.method == "quality_gate"
    assert out.content == "Parallel sub-step quality gate failed: b\n\nQuality gate failed: x"
