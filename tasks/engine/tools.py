"""Phase 1's tools for one run: the toolbox, the job-side ToolHost, traces and stop checks.

The toolbox (and the workspace it works in) is built only when a Phase 1 call offers
tools, so a movement without tools never touches the file system. A call that names
its own tools (a selector's or a reviewer's read-only set) gets a toolbox of just
those, without the job-side host.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from agents.runtime import Toolbox, ToolTrace
from app.config import Settings
from app.db import db
from app.ledger import end_read, unit_of_work
from app.ledger.traces import record_tool_trace
from app.models import Job
from app.status import JobStatus
from pieces import Call
from pieces.team import part_timeout_ms
from tasks.agent_host import JobToolHost, toolbox_for
from tasks.engine.leases import Held


class ToolSession:
    def __init__(self, claimed, settings: Settings, held: Held, allowed: list[str]) -> None:
        self.claimed = claimed
        self.settings = settings
        self.held = held
        self.allowed = allowed
        # A team part has a time limit (TAKT aborts its agent call): counted from this
        # claim, so a part re-run after a worker died gets its whole limit again.
        self.timeout_ms = (
            part_timeout_ms(claimed.piece, claimed.run) if claimed.run.kind == "part" else None
        )
        self._deadline = (
            time.monotonic() + self.timeout_ms / 1000 if self.timeout_ms is not None else None
        )
        self._toolbox: Toolbox | None = None
        self._named: dict[tuple[str, ...], Toolbox | None] = {}
        self.host: JobToolHost | None = None
        if allowed and claimed.run.kind in ("agent", "part"):
            from tasks.engine.delegate import delegate_sync

            self.host = JobToolHost(
                settings,
                claimed.run.job_id,
                claimed.job.owner_id,
                in_parallel=claimed.run.parent_run_id is not None,
                delegate_sync=delegate_sync,
                run_id=claimed.run.id,
            )

    def toolbox(self, call: Call) -> Toolbox | None:
        if not call.tools:
            return None
        if call.tool_names is not None:
            if call.tool_names not in self._named:
                self._named[call.tool_names] = self._build(list(call.tool_names), None)
            return self._named[call.tool_names]
        if not self.allowed:
            return None
        if self._toolbox is None:
            self._toolbox = self._build(self.allowed, self.host)
        return self._toolbox

    def _build(self, allowed: list[str], host) -> Toolbox | None:
        claimed = self.claimed
        return toolbox_for(
            self.settings,
            allowed,
            claimed.agent.max_tool_calls if claimed.agent else None,
            workspace_dir=claimed.workspace,
            on_trace=self._trace,
            host=host,
            should_stop=self._should_stop,
            git=claimed.job.workspace is None,
        )

    def _trace(self, t: ToolTrace) -> None:
        run = self.claimed.run
        with unit_of_work() as work:
            record_tool_trace(
                work,
                job_id=run.job_id,
                run_id=run.id,
                movement=run.name,
                tool=t.tool[:100],
                call_id=t.call_id[:200] or None,
                input=t.input,
                output=t.output,
                latency_ms=t.latency_ms,
                outcome=t.outcome,
                error=t.error,
            )

    def seconds_left(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def timed_out(self) -> bool:
        left = self.seconds_left()
        return left is not None and left <= 0

    def _should_stop(self) -> bool:
        if self.held.lost.is_set() or self.timed_out():
            return True
        status = db.session.scalar(select(Job.status).where(Job.id == self.claimed.run.job_id))
        end_read()  # a read only; hold no transaction during the tool loop
        return status != JobStatus.RUNNING
