"""One visit of a team leader's run (pieces.team describes the protocol).

Each visit reads the leader's recorded calls (the decomposition and every request for
more parts) and its part runs, makes at most the one planning call that is due, starts
the parts there is room for, and then either goes back to waiting (a finishing part
wakes it) or, once every part has ended and planning is over, runs Phase 2 and Phase 3
on the aggregate like any movement.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from agents.llm import LLMError
from agents.runtime import TurnCancelled
from app.config import Settings
from app.ledger import (
    Dispatch,
    insert_run,
    park_run,
    record_phase,
    set_values,
    unit_of_work,
)
from app.ledger.traces import record_llm_calls
from app.models import MovementRun
from app.status import RUN_TERMINAL, JobStatus, RunStatus
from pieces import Answer, Call, Outcome, system_prompt
from pieces.program import EXECUTE, failed_execution
from pieces.team import (
    DECOMPOSE,
    MAX_TOTAL_PARTS,
    MORE_PARTS,
    PartsInvalid,
    _part_schema,
    aggregate,
    decompose_prompt,
    more_parts_prompt,
    parse_parts,
)
from tasks.engine.calls import CallContext, perform
from tasks.engine.claim import Claimed
from tasks.engine.events import phase_event
from tasks.engine.finish import fail_run, finish
from tasks.engine.leases import Held
from tasks.engine.outcomes import OPEN
from tasks.engine.phases import run_phases, spec_for

log = logging.getLogger(__name__)
_runs = MovementRun.__table__


class Leader:
    def __init__(self, claimed: Claimed, held: Held, settings: Settings) -> None:
        self.claimed, self.held, self.settings = claimed, held, settings
        self.tl = claimed.movement.team_leader
        self.run = claimed.run
        self.ctx = CallContext(
            settings=settings,
            job_id=self.run.job_id,
            run_id=self.run.id,
            attempt=self.run.attempt,
            movement=claimed.movement,
            tier=self.run.tier,
            agent=claimed.agent,
        )
        self.seq = claimed.next_seq
        self.instruction = spec_for(claimed).phase1_prompt

    # -- the plan so far, from the recorded answers -----------------------------------------

    def _plan(self) -> tuple[list[dict], bool, int]:
        """(planned parts, planning done, parts finished when the leader last planned)."""
        planned: list[dict] = []
        done, seen_at = False, 0
        for answer in self.claimed.answers:
            if answer.kind == DECOMPOSE:
                planned, _ = parse_parts(answer, self.tl.max_parts)
            elif answer.kind == MORE_PARTS:
                seen_at = (
                    (answer.structured or {}).get("after_finished", seen_at)
                    if isinstance(answer.structured, dict)
                    else seen_at
                )
                if answer.status != "done":
                    done = True
                    continue
                try:
                    more, finished = parse_parts(answer, MAX_TOTAL_PARTS, more=True)
                except PartsInvalid:
                    done = True
                    continue
                known = {p["id"] for p in planned}
                fresh = [p for p in more if p["id"] not in known]
                planned += fresh[: MAX_TOTAL_PARTS - len(planned)]
                done = done or finished or not fresh
        return planned, done or len(planned) >= MAX_TOTAL_PARTS, seen_at

    def _parts(self) -> list:
        with unit_of_work() as work:
            rows = work.conn.execute(
                select(_runs.c.spec, _runs.c.status, _runs.c.output, _runs.c.error)
                .where(_runs.c.parent_run_id == self.run.id)
                .order_by(_runs.c.created_at, _runs.c.id)
            ).all()
            work.discard()
        return rows

    # -- a visit ---------------------------------------------------------------------------

    def visit(self) -> str:
        try:
            if not any(a.kind == DECOMPOSE for a in self.claimed.answers):
                first = decompose_prompt(self.instruction, self.tl.max_parts)
                outcome = self._call(DECOMPOSE, first)
                if outcome is not None:
                    return outcome
            while True:
                planned, done, seen_at = self._plan()
                parts = self._parts()
                finished = [p for p in parts if RunStatus(p.status) in RUN_TERMINAL]
                started = {(r.spec or {}).get("id") for r in parts}
                queued = [p for p in planned if p["id"] not in started]
                if not done and len(finished) > seen_at and len(queued) <= self.tl.refill_threshold:
                    budget = MAX_TOTAL_PARTS - len(planned)
                    prompt = more_parts_prompt(
                        self.instruction,
                        [_result(p) for p in finished],
                        [p["id"] for p in planned],
                        budget,
                    )
                    outcome = self._call(
                        MORE_PARTS, prompt, after_finished=len(finished), limit=budget
                    )
                    if outcome is not None:
                        return outcome
                    continue
                if queued or len(finished) < len(parts) or not done:
                    waited = self._schedule_and_wait(queued)
                    if waited != "ready":
                        return waited
                    continue
                return self._finish(planned, parts)
        except PartsInvalid as exc:
            return self._fail(f"Team leader failed: {exc}")
        except TurnCancelled:
            return "stopped"
        except LLMError as exc:
            return fail_run(self.claimed, f"LLM call failed: {exc}", exc, self.ctx.llm_calls)

    def _finish(self, planned: list[dict], parts: list) -> str:
        results = [_result(p) for p in parts]
        if results and all(r["error"] for r in results):
            errors = "; ".join(f"{r['id']}: {r['error']}" for r in results)
            return self._fail(f"All team leader parts failed: {errors}")
        prior = [Answer(kind=EXECUTE, content=aggregate(planned, results))]
        self.claimed.answers = [
            a for a in self.claimed.answers if a.kind not in (DECOMPOSE, MORE_PARTS)
        ]
        self.claimed.next_seq = self.seq
        return run_phases(self.claimed, self.held, self.settings, prior=prior)

    def _call(
        self, kind: str, prompt: str, *, after_finished: int = 0, limit: int = 0
    ) -> str | None:
        """Make and checkpoint one planning call; a return value ends the visit."""
        more = kind == MORE_PARTS
        call = Call(
            kind,
            1,
            prompt,
            system=system_prompt(
                self.claimed.piece,
                self.claimed.movement,
                self.tl.persona or None,
                self.tl.persona_file if self.tl.persona else None,
            ),
            schema=_part_schema(limit if more else self.tl.max_parts, more),
        )
        performed = perform(self.ctx, call, [])
        if self.held.lost.is_set():
            return "lost"
        structured = performed.answer.structured
        if more and isinstance(structured, dict):
            structured = {**structured, "after_finished": after_finished}
        answer = Answer(
            kind=kind,
            content=performed.answer.content,
            status=performed.answer.status,
            structured=structured,
            error=performed.answer.error,
        )
        row = {**performed.row, "seq": self.seq, "structured": structured}
        if kind == DECOMPOSE:
            parse_parts(answer, self.tl.max_parts)  # fails the movement before recording
        with unit_of_work(self.run.job_id) as work:
            if not record_phase(work, self.run.id, self.claimed.owner, row):
                work.discard()
                return "lost"
            record_llm_calls(work, self.ctx.llm_calls)
            work.event("phase_completed", **phase_event(self.claimed, row))
        self.ctx.llm_calls = []
        self.seq += 1
        self.claimed.answers.append(answer)
        return None

    def _schedule_and_wait(self, queued: list[dict]) -> str:
        """Start the parts there is room for and wait for them; "ready" when, re-checked
        under the job lock, nothing is left to wait for (a part ended meanwhile)."""
        run = self.run
        with unit_of_work(run.job_id) as work:
            if work.job_status != JobStatus.RUNNING:
                work.discard()
                return "job-not-running"
            running = work.conn.execute(
                select(func.count())
                .select_from(_runs)
                .where(_runs.c.parent_run_id == run.id, _runs.c.status.in_(OPEN))
            ).scalar_one()
            room = max(0, self.tl.max_parts - running)
            if not queued[:room] and not running:
                work.discard()
                return "ready"  # every part ended; plan or finish now
            dispatches = []
            for part in queued[:room]:
                name = f"{run.name}.{part['id']}"
                run_id = insert_run(
                    work,
                    job_id=run.job_id,
                    attempt=run.attempt,
                    name=name,
                    tier=run.tier,
                    iteration=run.iteration,
                    kind="part",
                    parent_run_id=run.id,
                    spec=part,
                )
                dispatches.append(Dispatch(run_id, run.job_id, name, run.tier))
                work.event("part_started", movement=run.name, part=part["id"], title=part["title"])
            if not park_run(work, run.id, self.claimed.owner):
                work.discard()
                return "lost"
            set_values(work, run.job_id, current_activity=f"{run.name}: team at work")
            work.after_all([d.send for d in dispatches])
        return "waiting"

    def _fail(self, message: str) -> str:
        outcome = Outcome(
            "error",
            failure=failed_execution(self.claimed.piece, message),
            abort_kind="runtime_error",
        )
        return finish(self.claimed, outcome, [], self.ctx.llm_calls, self.settings)


def _result(row) -> dict:
    spec = row.spec or {}
    error = None if row.status == RunStatus.COMPLETED.value else (row.error or row.status)
    return {
        "id": spec.get("id", "?"),
        "title": spec.get("title", ""),
        "status": "done" if error is None else "error",
        "content": row.output or "",
        "error": error,
    }


def visit_leader(claimed: Claimed, held: Held, settings: Settings) -> str:
    return Leader(claimed, held, settings).visit()
