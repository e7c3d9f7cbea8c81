"""Phase 1 of a workflow step with its v0.60 additions, in TAKT's order.

Before Phase 1 (``prelude``): the ``dynamic_facets`` selector (its facets join the
prompt), the companion reviewers' selection (and the "Companion reviewers" section of
the prompt), and the workspace baseline the reviewers compare against. After Phase 1
answered (``after_phase1``): the companion rounds, then the ``completion_retry``
episode, whose every successful re-run gets companion rounds of its own. What comes
out is the answer Phases 2 and 3 work on, and the completion diagnostic for Phase 2.
Each step is a recorded call, so the whole sequence replays after a redelivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pieces.companions as companions
import pieces.completion as completion
from pieces.exchange import Answer, Call, find
from pieces.facet_select import choose_facets
from pieces.model import Companion
from pieces.probes import BASELINE, baseline_call, baseline_of
from pieces.prompt import phase1_prompt

if TYPE_CHECKING:
    from pieces.spec import MovementSpec


@dataclass(frozen=True)
class Prelude:
    prompt: str  # the Phase 1 prompt
    active: tuple[Companion, ...] = ()  # the companion reviewers of this run
    baseline: str | None = None


def prelude(spec: MovementSpec, answers: Sequence[Answer]) -> Call | Prelude | str:
    """The next call before Phase 1, what Phase 1 runs with, or why the run stops."""
    movement = spec.movement
    if movement.kind == "team_leader":
        return Prelude(spec.phase1_prompt)  # its Phase 1 is the team's work
    if movement.dynamic_facets is not None:
        chosen = choose_facets(
            spec.piece,
            movement,
            answers,
            task=spec.task,
            iteration=spec.movement_iteration,
            report_dir=spec.report_dir,
            reports=spec.earlier_reports,
            changed=spec.changed_paths,
            previous=spec.previous_selection,
        )
        if isinstance(chosen, Call | str):
            return chosen
        movement = chosen
    watched = spec.companions and companions.reviewers(movement.companion)
    active: tuple[Companion, ...] = ()
    if watched:
        inbox = companions.inbox_section(spec.piece.words[1])
        movement = movement.model_copy(update={"instruction": f"{movement.instruction}\n\n{inbox}"})
        picked = companions.choose(spec.movement, answers, task=spec.task)
        if isinstance(picked, Call):
            return picked
        active = picked
    baseline = None
    if active or movement.completion_retry is not None:
        look = find(list(answers), BASELINE)
        if look is None:
            return baseline_call()
        baseline = baseline_of(look)
        if baseline is None:
            active = ()  # TAKT: no git, no companion runtime; the step runs without
    prompt = spec.phase1_prompt
    if movement is not spec.movement:
        if spec.context is not None:
            prompt = phase1_prompt(spec.piece, movement, spec.context)
        elif watched:
            prompt = f"{prompt}\n{companions.inbox_section(spec.piece.words[1])}\n"
    return Prelude(prompt, active, baseline)


def after_phase1(
    spec: MovementSpec, answers: Sequence[Answer], pre: Prelude, first: str
) -> Call | tuple[str, str | None]:
    """The next call after Phase 1's first answer, or (final answer, Phase 2 diagnostic)."""
    movement = spec.movement
    common = dict(task=spec.task, max_rounds=spec.companion_rounds)
    response, reviewed = first, ""
    if pre.active and pre.baseline is not None:
        out = companions.rounds(
            movement,
            answers,
            pre.active,
            episode=0,
            response=first,
            baseline=pre.baseline,
            reviewed="",
            **common,
        )
        if isinstance(out, Call):
            return out
        response, reviewed = out
    if movement.completion_retry is None:
        return response, None
    last = [reviewed]

    def after_retry(k: int, content: str) -> Call | str:
        if not pre.active or pre.baseline is None:
            return content
        out = companions.rounds(
            movement,
            answers,
            pre.active,
            episode=k,
            response=content,
            baseline=pre.baseline,
            reviewed=last[0],
            **common,
        )
        if isinstance(out, Call):
            return out
        last[0] = out[1]
        return out[0]

    result = completion.episode(
        movement,
        answers,
        task=spec.task,
        prompt=pre.prompt,
        response=response,
        baseline=pre.baseline,
        after_retry=after_retry,
    )
    if isinstance(result, Call):
        return result
    content, diagnostic = result
    return content, diagnostic.text() if diagnostic else None
