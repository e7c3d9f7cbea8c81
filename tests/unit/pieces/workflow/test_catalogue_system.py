"""Validation of kind: system steps in legato: what it refuses and why.

legato has no GitHub/GitLab integration: effects that act on a pull request are accepted
only on a step every route reaches through when(...) (TAKT's auto-improvement-loop
reaches them only after selecting a pull request, which never happens in legato). A
system step routes without a judge, and the workflow an enqueue_task names is compiled
when the job is accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pieces import PieceLibrary

from .support import make_library, validate

FORGE = (
    "acts on a pull request; legato has no GitHub/GitLab integration (legato accepts it "
    "only on a step reached solely through when(...) routes, and fails the step if a run "
    "gets there)"
)
FOLLOW_UP = (
    "name: follow-up\nsteps:\n  - name: do\n    rules: [{condition: done, next: COMPLETE}]\n"
)


def _errors(tmp_path: Path, text: str, **extra: str) -> list[str]:
    report = validate(tmp_path / "lib", text, **{"workflows/follow-up.yaml": FOLLOW_UP, **extra})
    return [str(p) for p in report.errors]


GUARDED = """\
name: t
steps:
  - name: look
    kind: system
    system_inputs:
      - {type: pr_selection, source: current_project, as: pr}
    rules:
      - {condition: when(context.look.pr.exists == true), next: close}
      - {condition: when(true), next: queue}
  - name: close
    kind: system
    effects:
      - {type: close_pr, pr: "{context:look.pr.number}"}
    rules: [{condition: when(effect.close.close_pr.success == true), next: COMPLETE}]
  - name: queue
    kind: system
    effects:
      - {type: enqueue_task, mode: new, workflow: follow-up, task: "{context:look.pr.exists}"}
    rules: [{condition: when(true), next: COMPLETE}]
"""


def test_forge_effects_behind_when_are_accepted_and_enqueued_workflows_embedded(tmp_path):
    assert _errors(tmp_path, GUARDED) == []
    piece = PieceLibrary([tmp_path / "lib"]).load("t")
    assert list(piece.enqueues) == ["follow-up"]
    assert piece.enqueues["follow-up"].movements[0].name == "do"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # reached by a label rule: a run could get there without any when()
        (
            ("{condition: when(true), next: queue}", "{condition: done, next: close}"),
            [f"steps[1].effects[0].type: effect close_pr {FORGE}"],
        ),
        # the first step: every run reaches it
        (
            ("name: t\n", "name: t\ninitial_step: close\n"),
            [f"steps[1].effects[0].type: effect close_pr {FORGE}"],
        ),
        # the enqueued workflow named by state: it must be known when the job is accepted
        (
            ("workflow: follow-up", 'workflow: "{context:look.pr.name}"'),
            [
                "steps[2].effects[0].workflow: the enqueued workflow must be named literally "
                "(legato compiles it when the job is accepted)"
            ],
        ),
        (
            ("workflow: follow-up", "workflow: nowhere"),
            ['steps[2].effects[0].workflow: unknown workflow "nowhere"'],
        ),
        # from_pr acts on a pull request too
        (
            (
                "{type: enqueue_task, mode: new, workflow: follow-up, task: "
                '"{context:look.pr.exists}"}',
                '{type: enqueue_task, mode: from_pr, pr: 3, workflow: follow-up, task: "x"}',
            ),
            [],
        ),
    ],
)
def test_what_is_refused(tmp_path, edit, expected):
    text = GUARDED.replace(*edit)
    assert text != GUARDED
    assert _errors(tmp_path, text) == expected


def test_from_pr_on_an_unguarded_step_is_refused(tmp_path):
    text = """\
name: t
steps:
  - name: queue
    kind: system
    effects:
      - {type: enqueue_task, mode: from_pr, pr: 3, workflow: follow-up, task: x}
    rules: [{condition: when(true), next: COMPLETE}]
"""
    assert _errors(tmp_path, text) == [
        f"steps[0].effects[0].type: effect enqueue_task (mode from_pr) {FORGE}"
    ]


def test_a_system_step_routes_without_a_judge(tmp_path):
    text = """\
name: t
steps:
  - name: look
    kind: system
    rules:
      - {condition: found, next: COMPLETE}
      - {condition: missing, next: ABORT}
"""
    assert _errors(tmp_path, text) == [
        "steps[0].rules: a system step's rules must not need a judge (two or more labels) "
        "(route a system step with when(...) conditions; legato makes no model call for it)"
    ]


def test_a_workflow_that_enqueues_itself_is_refused(tmp_path):
    loop = """\
name: t
steps:
  - name: again
    kind: system
    effects:
      - {type: enqueue_task, mode: new, workflow: t, task: more}
    rules: [{condition: when(true), next: COMPLETE}]
"""
    errors = _errors(tmp_path, loop)
    assert errors == [
        'steps[0].effects[0].workflow: workflow "t" enqueues itself (directly or through '
        "another) (legato embeds the enqueued workflow when the job is accepted)"
    ]


def test_auto_improvement_loop_is_accepted(takt_head: Path):
    lib = PieceLibrary([takt_head, takt_head.parent])
    piece = lib.load("auto-improvement-loop")
    assert list(piece.enqueues) == ["takt-default"]
    kinds = {m.name: m.kind for m in piece.movements}
    assert kinds["route_context"] == "system" and kinds["plan_fresh_improvement"] == "agent"
    make_library  # noqa: B018 (the library helper is shared with the catalogue)
