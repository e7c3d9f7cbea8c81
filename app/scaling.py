"""The scaler's adapter: what the pure policy (swarm.policy) needs, from where it lives.

* services and replicas: the Docker engine (:class:`swarm.SwarmBackend`, only where
  ``SWARM_ENABLED`` and the socket are: the beat/maintenance service in the stack);
* queue depths: the broker, through Kombu (:mod:`app.broker_depth`);
* running and pending movements and recent activity per tier: the database;
* the history of every scaling action: the ``scaling_events`` table.

Each pass also rewrites the scaled-to-zero hint that wake-on-enqueue reads
(:mod:`app.scale_hint`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from app.broker_depth import queue_depths
from app.config import Settings
from app.db import db, utcnow
from app.errors import Unavailable
from app.models import EventId, MovementRun, _created
from app.scale_hint import write_zero_hint

if TYPE_CHECKING:
    from swarm import AppliedDecision, ServiceInfo, SwarmBackend

log = logging.getLogger(__name__)

IDLE_SCALE_DOWN_TASK = "legato.maintenance.idle_scale_down"
# Relabel a service with newer activity only when it moved by more than this, so a
# busy service is not updated on every pass for nothing.
ACTIVITY_LABEL_SLACK = timedelta(seconds=30)
TERMINAL_RUN_STATES = ("completed", "failed", "timed_out", "cancelled", "skipped")


class ScalingEvent(db.Model):
    """One scaling action (automatic or by an admin) and why it was taken."""

    __tablename__ = "scaling_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(128), nullable=False)
    # scale_up | scale_down | start | stop | deploy | remove
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    # idle (beat pass) | enqueue (wake on enqueue) | api
    trigger: Mapped[str] = mapped_column(String(32), nullable=False)
    from_replicas: Mapped[int | None] = mapped_column(Integer)
    to_replicas: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()

    __table_args__ = (Index("ix_scaling_events_service_id", "service", "id"),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "action": self.action,
            "trigger": self.trigger,
            "from_replicas": self.from_replicas,
            "to_replicas": self.to_replicas,
            "reason": self.reason,
            "ok": self.ok,
            "error": self.error,
            "actor": self.actor,
            "created_at": _aware(self.created_at),
        }


# -- the Docker backend ----------------------------------------------------------------


class SwarmDisabled(Unavailable):
    code = "swarm_disabled"


_backends: dict[str | None, SwarmBackend] = {}
_backends_lock = threading.Lock()


def swarm_backend(settings: Settings) -> SwarmBackend:
    """The process's backend for ``DOCKER_HOST`` (connects lazily, reconnects on use).

    Raises :class:`SwarmDisabled` (503) unless ``SWARM_ENABLED``."""
    if not settings.swarm_enabled:
        raise SwarmDisabled(
            "Swarm control is off in this process: set SWARM_ENABLED=true and give it a "
            "swarm manager's Docker socket (mount /var/run/docker.sock or set DOCKER_HOST).",
            details={"setting": "SWARM_ENABLED"},
        )
    from swarm import SwarmBackend

    with _backends_lock:
        backend = _backends.get(settings.docker_host)
        if backend is None:
            backend = SwarmBackend(base_url=settings.docker_host)
            _backends[settings.docker_host] = backend
        return backend


# -- database: running work and activity per tier -------------------------------------


def db_now() -> datetime:
    """The database clock (DESIGN.md invariant 5), timezone-aware."""
    return _aware(db.session.scalar(select(utcnow())))


def running_by_tier() -> dict[str, int]:
    rows = db.session.execute(
        select(MovementRun.tier, func.count())
        .where(MovementRun.status == "running")
        .group_by(MovementRun.tier)
    ).all()
    return {tier: int(n) for tier, n in rows}


def pending_by_tier() -> dict[str, int]:
    """Runs waiting in the database: work even when its broker message was lost."""
    rows = db.session.execute(
        select(MovementRun.tier, func.count())
        .where(MovementRun.status == "pending")
        .group_by(MovementRun.tier)
    ).all()
    return {tier: int(n) for tier, n in rows}


def recent_activity_by_tier(since: datetime) -> dict[str, datetime]:
    """The newest finish of a run created since ``since``, per tier.

    Filtering on (status, created_at) uses that index; a long run created earlier
    was seen as *running* by an earlier pass, which stamped the service then."""
    rows = db.session.execute(
        select(
            MovementRun.tier,
            func.max(func.coalesce(MovementRun.finished_at, MovementRun.created_at)),
        )
        .where(
            MovementRun.status.in_(TERMINAL_RUN_STATES),
            MovementRun.created_at >= since,
        )
        .group_by(MovementRun.tier)
    ).all()
    return {tier: _aware(when) for tier, when in rows if when is not None}


# -- events --------------------------------------------------------------------------------


def record_event(
    service: str,
    action: str,
    trigger: str,
    reason: str,
    *,
    from_replicas: int | None = None,
    to_replicas: int | None = None,
    ok: bool = True,
    error: str | None = None,
    actor: str | None = None,
) -> ScalingEvent:
    event = ScalingEvent(
        service=service[:128],
        action=action,
        trigger=trigger,
        reason=reason,
        from_replicas=from_replicas,
        to_replicas=to_replicas,
        ok=ok,
        error=error,
        actor=actor,
    )
    db.session.add(event)
    db.session.commit()
    return event


def _record_applied(result: AppliedDecision, trigger: str) -> ScalingEvent:
    d = result.decision
    return record_event(
        d.service,
        "scale_down" if d.target == 0 else "scale_up",
        trigger,
        d.reason,
        from_replicas=result.previous_replicas,
        to_replicas=d.target,
        ok=result.ok,
        error=None if result.error is None else result.error.message,
    )


def list_events(
    *, service: str | None = None, limit: int = 100, before: int | None = None
) -> list[ScalingEvent]:
    stmt = select(ScalingEvent).order_by(ScalingEvent.id.desc()).limit(limit)
    if service:
        stmt = stmt.where(ScalingEvent.service == service)
    if before is not None:
        stmt = stmt.where(ScalingEvent.id < before)
    return list(db.session.scalars(stmt))


# -- the scaler ----------------------------------------------------------------------------


def managed_services(
    settings: Settings, backend: SwarmBackend, queue: str | None = None
) -> list[ServiceInfo]:
    """The legato services this deployment's scaler may change (SWARM_SERVICE_PREFIX)."""
    prefix = settings.swarm_service_prefix
    return [s for s in backend.services(queue=queue) if s.name.startswith(prefix)]


@dataclass(frozen=True)
class PassResult:
    """What one scaler pass saw and did (returned by the beat task, logged)."""

    services: int
    events: list[dict[str, Any]]
    zero_queues: list[str]


def idle_pass(settings: Settings, backend: SwarmBackend | None = None) -> PassResult:
    """One run of the policy over every legato service: scale idle ones to 0, scale up
    zeroed ones with queued work, record an event per action, refresh the hint."""
    from swarm import decide

    backend = backend or swarm_backend(settings)
    services = managed_services(settings, backend)
    now = db_now()
    depths = queue_depths({s.queue for s in services if s.queue}, settings)
    running = running_by_tier()
    pending = pending_by_tier()
    window = timedelta(minutes=settings.idle_scale_down_minutes) + timedelta(minutes=5)
    recent = recent_activity_by_tier(now - window)
    db.session.rollback()  # end the read transaction before the slow Docker calls

    loads = []
    for svc in services:
        queue = svc.queue or ""
        depth = max(depths.get(queue, 0), pending.get(queue, 0))
        busy = running.get(queue, 0)
        activity = now if (depth or busy) else recent.get(queue)
        load = svc.to_load(queue_depth=depth, running=busy, last_activity=activity)
        loads.append(
            replace(load, max_replicas=min(load.max_replicas, settings.scale_max_replicas))
        )
        _stamp_activity(backend, svc, activity)

    results = backend.apply(decide(loads, now, settings.idle_scale_down_minutes))
    events = [_record_applied(r, "idle").to_dict() for r in results]
    zero = refresh_zero_hint(settings, backend)
    return PassResult(services=len(services), events=events, zero_queues=sorted(zero))


def _stamp_activity(backend: SwarmBackend, svc: ServiceInfo, activity: datetime | None) -> None:
    """Keep the service's ``legato.last_activity`` label up to date, so the idle clock
    is visible (`docker service inspect`, GET /api/swarm/agents) and survives restarts."""
    from swarm import SwarmError

    if activity is None or svc.desired_replicas == 0:
        return
    if svc.last_activity is not None and activity - svc.last_activity <= ACTIVITY_LABEL_SLACK:
        return
    try:
        backend.mark_activity(svc.name, activity)
    except SwarmError as exc:  # removed meanwhile, or Docker hiccup: the next pass retries
        log.info("could not stamp activity on %s: %s", svc.name, exc.message)


def wake(queue: str, settings: Settings, backend: SwarmBackend | None = None) -> list[dict]:
    """Scale up, now, the services at 0 that consume ``queue`` (work was just enqueued)."""
    from swarm import decide

    backend = backend or swarm_backend(settings)
    zeroed = [
        s for s in managed_services(settings, backend, queue=queue) if s.desired_replicas == 0
    ]
    events: list[dict] = []
    if zeroed:
        depth = queue_depths([queue], settings).get(queue, 0)
        loads = [
            replace(
                s.to_load(queue_depth=max(depth, 1), running=0),
                max_replicas=min(s.max_replicas, settings.scale_max_replicas),
            )
            for s in zeroed
        ]
        results = backend.apply(decide(loads, datetime.now(UTC), 0))
        events = [_record_applied(r, "enqueue").to_dict() for r in results]
    refresh_zero_hint(settings, backend)
    return events


# -- the scaled-to-zero hint ---------------------------------------------------------------


def refresh_zero_hint(settings: Settings, backend: SwarmBackend) -> set[str]:
    """Rewrite the set of queues whose every consuming service is at 0 replicas."""
    by_queue: dict[str, bool] = {}
    for svc in managed_services(settings, backend):
        if svc.queue:
            by_queue[svc.queue] = by_queue.get(svc.queue, False) or svc.desired_replicas > 0
    zero = {q for q, up in by_queue.items() if not up}
    write_zero_hint(zero, settings)
    return zero


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands back text for a bare expression
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
