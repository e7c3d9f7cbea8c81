"""Health of each tier's LLM endpoint, as the last probe (or a failed call) left it.

A worker that finds its endpoint unreachable marks the tier unhealthy; the
`probe_llm_endpoints` beat task marks it healthy again and re-sends the work that
waited for it. The reconciler skips unhealthy tiers, so parked work does not spin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import db, utcnow


class EndpointHealth(db.Model):
    __tablename__ = "llm_endpoint_health"

    tier: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_url: Mapped[str | None] = mapped_column(String(2000))
    healthy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    models: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utcnow(), nullable=False
    )


def record_health(
    tier: str,
    *,
    healthy: bool,
    base_url: str | None = None,
    models: list[str] | None = None,
    error: str | None = None,
) -> bool:
    """Upsert the tier's health in the caller's transaction; returns the previous health."""
    values: dict[str, Any] = {"healthy": healthy, "error": error, "checked_at": utcnow()}
    if base_url is not None:
        values["base_url"] = base_url
    if models is not None:
        values["models"] = models
    previous = db.session.scalar(
        select(EndpointHealth.healthy).where(EndpointHealth.tier == tier).with_for_update()
    )
    if previous is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    EndpointHealth(
                        tier=tier,
                        base_url=base_url,
                        healthy=healthy,
                        models=models or [],
                        error=error,
                    )
                )
            return True
        except IntegrityError:  # a concurrent first probe inserted it; update instead
            pass
    db.session.execute(
        update(EndpointHealth)
        .where(EndpointHealth.tier == tier)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return True if previous is None else bool(previous)


def unhealthy_tiers() -> set[str]:
    return set(db.session.scalars(select(EndpointHealth.tier).where(~EndpointHealth.healthy)))


def all_health() -> list[EndpointHealth]:
    return list(db.session.scalars(select(EndpointHealth).order_by(EndpointHealth.tier)))
