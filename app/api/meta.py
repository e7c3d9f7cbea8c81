"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.api.spec import spec
from app.db import db
from app.schemas import Health, Readiness

log = logging.getLogger(__name__)
bp = Blueprint("meta", __name__)


@spec.route(
    bp,
    "/healthz",
    "GET",
    summary="Liveness: the process answers",
    auth=False,
    responses={200: Health},
)
def healthz():
    return Health(status="ok")


@spec.route(
    bp,
    "/readyz",
    "GET",
    summary="Readiness: database and broker reachable",
    auth=False,
    responses={200: Readiness, 503: Readiness},
)
def readyz():
    checks = {"database": _check_database(), "broker": _check_broker()}
    ok = all(v == "ok" for v in checks.values())
    return Readiness(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec.document())


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return "ok"
    except Exception as exc:
        db.session.rollback()
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return f"unreachable ({type(exc).__name__})"


def _check_broker() -> str:
    from app.contract import producer

    try:
        with producer().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        return "ok"
    except Exception as exc:
        log.warning("readiness: broker check failed: %s", type(exc).__name__)
        return f"unreachable ({type(exc).__name__})"
