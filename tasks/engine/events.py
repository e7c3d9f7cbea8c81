"""The payloads of the phase events every movement run writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pieces import Call

if TYPE_CHECKING:  # a type only; the claim module imports nothing from here
    from tasks.engine.claim import Claimed


def phase_event(claimed: Claimed, row: dict) -> dict:
    return {
        "run_id": str(claimed.run.id),
        "movement": claimed.run.name,
        "phase": row["phase"],
        "kind": row["kind"],
        "name": row["name"],
        "status": row["status"],
        "tokens_in": row["tokens_in"],
        "tokens_out": row["tokens_out"],
        "latency_ms": row["latency_ms"],
        "model": row["model"],
        "match_method": row.get("match_method"),
        "matched_rule": row.get("matched_rule"),
    }


def phase_started(claimed: Claimed, call: Call) -> dict:
    return {
        "run_id": str(claimed.run.id),
        "movement": claimed.run.name,
        "phase": call.phase,
        "kind": call.kind,
        "name": call.name,
    }
