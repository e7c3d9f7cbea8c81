"""A claimed run's prompt texts, read with one prebuilt statement.

What a movement's prompt draws on lives in four tables: the attempt's user inputs,
reports and the previous attempt's handoff (job_artifacts), the owner's notes (notes),
the previous top-level run's output (movement_runs) and the conversation of the run's
session key (run_phases). Six separate reads were about 8 % of a worker's samples
(building, compiling and round-tripping each statement); this reads them all in one
UNION ALL, built once at import so SQLAlchemy's compiled cache is hit without
rebuilding its cache key. A part that is not wanted gets a NULL key and matches no row.
Every branch keeps its own order and limit (its row_number), the same as the separate
reads had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Text, bindparam, case, cast, func, literal, null, select, union_all
from sqlalchemy.engine import Connection

from app.ledger import HANDOFF, INPUT, REPORT
from app.models import JobArtifact, MovementRun, RunPhase
from app.notes import format_notes, notes_query

_runs, _phases, _artifacts = MovementRun.__table__, RunPhase.__table__, JobArtifact.__table__
ARTIFACTS, NOTES, PREVIOUS, TURNS = range(4)


def _branch(source: int, sub, kind=None, name=None, text=None, answer=None, number=None):
    """One UNION ALL member with the shared columns (src, kind, name, text, answer,
    number, pos) from a subquery that has its own order, limit and row_number `pos`."""

    def text_or_null(column):
        return cast(column if column is not None else null(), Text)

    return select(
        literal(source, Integer).label("src"),
        text_or_null(kind).label("kind"),
        text_or_null(name).label("name"),
        text_or_null(text).label("text"),
        text_or_null(answer).label("answer"),
        (number if number is not None else cast(null(), Integer)).label("number"),
        sub.c.pos.label("pos"),
    )


def _statement():
    artifacts = (
        select(
            _artifacts.c.kind,
            _artifacts.c.name,
            _artifacts.c.content,
            _artifacts.c.attempt,
            func.row_number()
            .over(order_by=(_artifacts.c.created_at, _artifacts.c.id))
            .label("pos"),
        )
        .where(
            _artifacts.c.job_id == bindparam("job_id"),
            _artifacts.c.attempt.in_((bindparam("attempt"), bindparam("previous_attempt"))),
            _artifacts.c.kind.in_([literal(kind) for kind in (REPORT, INPUT, HANDOFF)]),
        )
        .subquery()
    )
    newest = notes_query(bindparam("notes_owner"), bindparam("piece_name"))
    notes = newest.add_columns(
        func.row_number().over(order_by=newest._order_by_clauses).label("pos")
    ).subquery()
    previous = (
        select(_runs.c.output, literal(1, Integer).label("pos"))
        .where(
            _runs.c.job_id == bindparam("previous_job"),
            _runs.c.attempt == bindparam("attempt"),
            _runs.c.parent_run_id.is_(None),
            _runs.c.iteration < bindparam("iteration"),
            _runs.c.output.is_not(None),
        )
        .order_by(_runs.c.iteration.desc())
        .limit(1)
        .subquery()
    )
    turns = (
        select(
            _phases.c.prompt,
            _phases.c.answer,
            case((_phases.c.resets, 1), else_=0).label("resets"),
            func.row_number().over(order_by=_phases.c.id.desc()).label("pos"),
        )
        .where(
            _phases.c.job_id == bindparam("job_id"),
            _phases.c.attempt == bindparam("attempt"),
            _phases.c.session_key == bindparam("session_key"),
        )
        .order_by(_phases.c.id.desc())
        .limit(bindparam("max_turns"))
        .subquery()
    )
    both = union_all(
        _branch(
            ARTIFACTS,
            artifacts,
            kind=artifacts.c.kind,
            name=artifacts.c.name,
            text=artifacts.c.content,
            number=artifacts.c.attempt,
        ),
        _branch(NOTES, notes, text=notes.c.content),
        _branch(PREVIOUS, previous, text=previous.c.output),
        _branch(
            TURNS,
            turns,
            text=turns.c.prompt,
            answer=turns.c.answer,
            number=turns.c.resets,
        ),
    ).subquery()
    return select(both).order_by(both.c.src, both.c.pos)


STATEMENT = _statement()


@dataclass
class PromptTexts:
    inputs: list[str] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    handoff: str | None = None
    notes: str | None = None
    previous: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)


def prompt_texts(
    conn: Connection,
    job: Any,
    run: Any,
    *,
    notes_budget: int | None,
    previous: bool,
    session_key: str | None,
    max_turns: int = 0,
    max_chars: int = 0,
) -> PromptTexts:
    """The attempt's texts; notes only with a budget, the previous output only when
    `previous`, the conversation only for a `session_key`."""
    params = {
        "job_id": job.id,
        "attempt": run.attempt,
        "previous_attempt": run.attempt - 1,
        "notes_owner": job.owner_id if notes_budget and notes_budget > 0 else None,
        "piece_name": job.piece_name,
        "previous_job": run.job_id if previous else None,
        "iteration": run.iteration,
        "session_key": session_key,
        "max_turns": max_turns if session_key is not None else 0,
    }
    out = PromptTexts()
    notes: list[str] = []
    turns: list[tuple[str, str, bool]] = []
    for row in conn.execute(STATEMENT, params):
        if row.src == ARTIFACTS:
            if row.kind == HANDOFF:
                if row.number == run.attempt - 1:
                    out.handoff = row.text
            elif row.number != run.attempt:
                continue
            elif row.kind == REPORT:
                out.reports[row.name] = row.text  # oldest first: the latest wins
            else:
                out.inputs.append(row.text)
        elif row.src == NOTES:
            notes.append(row.text)
        elif row.src == PREVIOUS:
            out.previous = row.text
        else:
            turns.append((row.text, row.answer, bool(row.number)))
    if notes_budget and notes_budget > 0:
        out.notes = format_notes(notes, notes_budget)
    out.history = _conversation(turns, max_chars)
    return out


def _conversation(turns: list[tuple[str, str, bool]], max_chars: int) -> list[dict[str, str]]:
    """The session's messages (turns come newest first), bounded: newest turns are kept
    first, up to `max_chars` characters; a turn that started the conversation over
    (`resets`) is the oldest one kept."""
    kept: list[tuple[str, str]] = []
    used = 0
    for prompt, answer, resets in turns:
        size = len(prompt) + len(answer)
        if used + size > max_chars:
            break
        kept.append((prompt, answer))
        used += size
        if resets:
            break
    messages: list[dict[str, str]] = []
    for prompt, answer in reversed(kept):
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return messages
