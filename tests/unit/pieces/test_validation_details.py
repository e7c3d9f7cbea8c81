"""Validation beyond the catalogue: a message's parts, report rendering, keys of team
leaders and piece_config, and the bounds on the work any input can cause."""

from __future__ import annotations

from pieces import PieceLibrary


def test_the_issue_example_message() -> None:
    text = """\
name: x
movements:
  - {name: a, rules: [{condition: ok, next: b}]}
  - {name: b, rules: [{condition: ok, next: c}]}
  - {name: c, rules: [{condition: ok, next: review}]}
  - name: d
    rules:
      - {condition: ok, next: COMPLETE}
      - {condition: again, next: reviw}
  - {name: review, rules: [{condition: ok, next: d}]}
"""
    report = PieceLibrary.builtin().validate_text(text)
    assert [str(p) for p in report.errors] == [
        'movements[3].rules[1].next: unknown movement "reviw" (did you mean "review"?)'
    ]
    problem = report.errors[0]
    assert (problem.path, problem.message, problem.hint, problem.severity) == (
        "movements[3].rules[1].next",
        'unknown movement "reviw"',
        'did you mean "review"?',
        "error",
    )
    assert report.warnings == []


def test_report_rendering_and_problem_positional_construction() -> None:
    from pieces import Problem, ValidationReport

    assert str(Problem("a.b", "bad")) == "a.b: bad"
    assert str(Problem("", "bad", "fix it")) == "bad (fix it)"
    report = ValidationReport(
        source="p.yaml",
        problems=[Problem("x", "w", severity="warning"), Problem("y", "e")],
    )
    assert report.lines() == ["error: y: e", "warning: x: w"]
    assert str(report) == "p.yaml:\n  error: y: e\n  warning: x: w"
    assert not report.ok
    assert str(ValidationReport(source="p.yaml")) == "p.yaml: ok"


def test_team_leader_session_and_arpeggio_keys(builtin) -> None:
    text = """\
name: x
movements:
  - name: a
    session: sometimes
    team_leader: {max_parts: 5, refill_threshold: 9, part_allowed_tools: [Read]}
    rules: [{condition: ok, next: COMPLETE}]
  - name: b
    arpeggio: {source: csv}
    rules: [{condition: ok, next: COMPLETE}]
"""
    report = builtin.validate_text(text)
    assert [str(p) for p in report.errors] == [
        'movements[0].session: unknown session mode "sometimes" (continue or refresh)',
        "movements[0].team_leader.max_parts: must be at most 3, got 5",
        "movements[0].team_leader.refill_threshold: must be less than or equal to max_parts",
        "movements[1].arpeggio: arpeggio is not supported by legato "
        "(no TAKT builtin piece uses it; split the data into jobs instead)",
    ]


def test_piece_config_tools_are_every_movements_default(builtin) -> None:
    text = """\
name: x
piece_config:
  provider_options:
    claude: {allowed_tools: [Read, Grep]}
movements:
  - name: a
    rules: [{condition: ok, next: b}]
  - name: b
    provider_options: {codex: {allowed_tools: [Edit]}}
    rules: [{condition: ok, next: COMPLETE}]
"""
    piece, report = builtin.compile_text(text)
    assert report.ok and report.warnings == []
    assert [m.allowed_tools for m in piece.movements] == [["Read", "Grep"], ["Edit"]]


def test_validation_work_is_bounded_by_the_input(builtin) -> None:
    # 1,000 misspelt targets once took a minute of fuzzy matching; hints are now capped
    # and drawn from a bounded candidate list, so every problem is still reported.
    movements = "\n".join(
        f"  - name: step-{i}\n    rules: [{{condition: ok, next: stpe-{i}}}]" for i in range(150)
    )
    report = builtin.validate_text(f"name: x\nmovements:\n{movements}\n")
    unknown = [p for p in report.errors if "unknown movement" in p.message]
    assert len(unknown) == 150
    assert 0 < sum(1 for p in unknown if p.hint) <= 50


def test_too_many_movements_or_rules_are_refused_before_any_check(builtin) -> None:
    many = "\n".join(f"  - name: s{i}" for i in range(201))
    report = builtin.validate_text(f"name: x\nmovements:\n{many}\n")
    assert [str(p) for p in report.problems] == ["movements: too many movements: 201 (at most 200)"]
    rules = "\n".join("      - {condition: ok, next: COMPLETE}" for _ in range(2001))
    report = builtin.validate_text(f"name: x\nmovements:\n  - name: a\n    rules:\n{rules}\n")
    assert [str(p) for p in report.problems] == ["movements: too many rules: 2001 (at most 2000)"]
