"""The scale-to-zero policy: a pure function from service load to scaling decisions.

No I/O, no clock, no Docker: the caller gathers one :class:`ServiceLoad` per
service (replicas from :meth:`swarm.backend.SwarmBackend.services`, queue depth from
the broker, running movements and last activity from the database), passes the
current time, and applies what :func:`decide` returns (e.g. with
:meth:`swarm.backend.SwarmBackend.apply`), recording each decision's ``reason`` as
a scaling event.

Rules, per service:

* **scale down to 0** when the service has replicas, nothing is queued for it,
  nothing is running on it, and its last activity is at least ``idle_minutes`` old;
* **scale up from 0** when the service has 0 replicas and work is queued for it:
  to one replica per queued message, at least 1 and at most ``max_replicas``;
* otherwise **no decision** (a service that is busy, recently active, at 0 with
  nothing queued, or whose last activity is unknown is left alone).

Guarantees (property-tested in ``tests/swarm/test_policy.py``):

* a service with queued or running work is never scaled down;
* no target exceeds the service's ``max_replicas`` (nor is negative);
* at most one decision per service, and never a no-op (target == replicas);
* idempotent: applying the decisions and deciding again yields nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["ScalingDecision", "ServiceLoad", "decide", "idle_for"]


@dataclass(frozen=True)
class ServiceLoad:
    """What the policy knows about one service.

    Attributes:
        name: the swarm service name (decisions are keyed by it).
        replicas: desired replicas right now.
        last_activity: when the service last did work (a movement started or
            finished on its queue, or it was scaled/updated); ``None`` if unknown.
            Timezone-aware datetimes are expected; naive ones must all be UTC.
        queue_depth: messages waiting in the broker queue the service consumes.
        running: movements currently running on the service (from the database).
        max_replicas: the most replicas a scale-up may ask for (``>= 1``).
    """

    name: str
    replicas: int
    last_activity: datetime | None
    queue_depth: int
    running: int
    max_replicas: int = 1

    @property
    def busy(self) -> bool:
        """True when work is queued for the service or running on it."""
        return self.queue_depth > 0 or self.running > 0


@dataclass(frozen=True)
class ScalingDecision:
    """Scale ``service`` to ``target`` replicas, because of ``reason`` (human text)."""

    service: str
    target: int
    reason: str

    @property
    def direction(self) -> str:
        """``"down"`` for a scale to zero, ``"up"`` otherwise."""
        return "down" if self.target == 0 else "up"


def idle_for(load: ServiceLoad, now: datetime) -> timedelta | None:
    """How long the service has been idle at ``now``; ``None`` if unknown.

    A last activity in the future (clock skew) counts as zero idleness."""
    if load.last_activity is None:
        return None
    return max(now - load.last_activity, timedelta(0))


def decide(
    loads: Iterable[ServiceLoad], now: datetime, idle_minutes: float
) -> list[ScalingDecision]:
    """Decide which services to scale, in the order the loads were given.

    Args:
        loads: one entry per service; a later entry with a name already seen is
            ignored.
        now: the current time (from the database clock, see DESIGN.md).
        idle_minutes: the idle threshold (``IDLE_SCALE_DOWN_MINUTES``); must be
            finite and ``>= 0``.

    Returns:
        The decisions, at most one per service. Empty when nothing should change.

    Raises:
        ValueError: for a negative or non-finite ``idle_minutes``, or a load with
            negative counts or ``max_replicas < 1``.
    """
    if not math.isfinite(idle_minutes) or idle_minutes < 0:
        raise ValueError(f"idle_minutes must be a finite number >= 0, got {idle_minutes!r}")
    threshold = timedelta(minutes=idle_minutes)
    seen: set[str] = set()
    decisions: list[ScalingDecision] = []
    for load in loads:
        _check(load)
        if load.name in seen:
            continue
        seen.add(load.name)
        decision = _decide_one(load, now, threshold, idle_minutes)
        if decision is not None:
            decisions.append(decision)
    return decisions


def _decide_one(
    load: ServiceLoad, now: datetime, threshold: timedelta, idle_minutes: float
) -> ScalingDecision | None:
    if load.replicas == 0:
        if load.queue_depth > 0:
            target = min(load.max_replicas, max(1, load.queue_depth))
            return ScalingDecision(
                load.name,
                target,
                f"{load.queue_depth} message(s) queued while at 0 replicas: "
                f"scaling up to {target} (max {load.max_replicas})",
            )
        return None
    if load.busy:
        return None
    idle = idle_for(load, now)
    if idle is None or idle < threshold:
        return None
    return ScalingDecision(
        load.name,
        0,
        f"idle for {idle.total_seconds() / 60:.1f} min (threshold {idle_minutes:g} min) "
        f"with nothing queued or running: scaling {load.replicas} -> 0",
    )


def _check(load: ServiceLoad) -> None:
    if load.replicas < 0 or load.queue_depth < 0 or load.running < 0:
        raise ValueError(f"negative count in {load!r}")
    if load.max_replicas < 1:
        raise ValueError(f"max_replicas must be >= 1 in {load!r}")
