"""Console pages: sign-in, jobs, a job, pieces, a piece, agents, workers and swarm.

Each page checks the same auth as the API (the sign-in cookie, or AUTH_MODE=none)
and renders a shell plus the data only the server can lay out (piece graphs); the
page's script loads everything else from the JSON API.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

import app.console.session as session
from app.auth import Principal, authenticate
from app.console.graph_layout import layout
from app.db import db
from app.errors import ApiError, Forbidden, Unauthorized

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

TOKEN_MAX = 512


def _settings():
    return current_app.extensions["legato.settings"]


def _signed_in() -> Principal | None:
    try:
        return authenticate()
    except Unauthorized:
        return None


def _page(template: str, who: Principal, **context: Any) -> str:
    return render_template(
        template,
        who=who,
        auth_mode=_settings().auth_mode,
        csrf=session.csrf_token(),
        **context,
    )


def _login_redirect() -> Response:
    target = request.full_path.rstrip("?") if request.path != url_for("console.login") else ""
    response = redirect(url_for("console.login", next=target or None))
    if session.session_token():
        session.clear_session(response)  # a revoked or stale token: forget it
    return response


def page(template: str):
    """Decorator: render `template` for a signed-in principal, or send them to sign in."""

    def wrap(view):
        def inner(**kwargs):
            who = _signed_in()
            if who is None:
                return _login_redirect()
            context = view(who, **kwargs) or {}
            if isinstance(context, Response):
                return context
            return _page(template, who, **context)

        inner.__name__ = view.__name__
        return bp.route(_RULES[view.__name__])(inner)

    return wrap


_RULES = {
    "jobs": "/",
    "job": "/jobs/<uuid:job_id>",
    "pieces": "/pieces",
    "piece": "/pieces/<piece:name>",
    "agents": "/agents",
    "workers": "/workers",
}


@page("jobs.html")
def jobs(who: Principal):
    return {"tiers": list(_settings().tiers)}


@page("job.html")
def job(who: Principal, job_id: uuid.UUID):
    from app.api.job_views import graph_of_snapshot
    from app.api.jobs import visible_job

    try:
        row = visible_job(job_id, who)
    except ApiError:
        return Response(
            render_template("missing.html", what=f"job {job_id}", who=who, csrf="", auth_mode=""),
            status=404,
        )
    graph = graph_of_snapshot(row.piece_snapshot).model_dump(mode="json", by_alias=True)
    movements = [n["name"] for n in graph["nodes"]]
    db.session.rollback()
    return {"job_id": str(job_id), "graph": layout(graph), "movements": movements}


@page("pieces.html")
def pieces(who: Principal):
    return {}


@page("piece.html")
def piece(who: Principal, name: str):
    from app.catalog import library_for, problem_out
    from app.piece_graph import piece_graph
    from pieces import PieceInvalid, PieceNotFound

    library = library_for(who.owner)
    try:
        resolved = library.load(name)
    except PieceNotFound:
        return Response(
            render_template("missing.html", what=f"piece {name}", who=who, csrf="", auth_mode=""),
            status=404,
        )
    except PieceInvalid as exc:
        return {
            "name": name,
            "problems": [problem_out(p).model_dump() for p in exc.report.errors],
            "piece": None,
            "graph": None,
        }
    return {
        "name": name,
        "problems": [problem_out(p).model_dump() for p in resolved.warnings],
        "piece": resolved.model_dump(mode="json", exclude={"warnings"}),
        "graph": layout(piece_graph(resolved)),
    }


@page("agents.html")
def agents(who: Principal):
    return {"tiers": list(_settings().tiers)}


@page("workers.html")
def workers(who: Principal):
    from app.scaling import SwarmDisabled, swarm_backend

    settings = _settings()
    swarm_error = None
    try:
        swarm_backend(settings)
    except SwarmDisabled as exc:  # the same 503 message the swarm API answers with
        swarm_error = exc.message
    return {
        "idle_minutes": settings.idle_scale_down_minutes,
        "admin": who.admin,
        "swarm_error": swarm_error,
    }


@bp.get("/agents/<name>/activity")
def agent_activity(name: str):
    """The agent's latest chat turn, for the chat panel to show while a reply is pending."""
    from flask import jsonify
    from sqlalchemy import select

    from app.chat import AgentTask
    from app.models import Agent
    from app.traces import LlmCallRow

    who = authenticate()
    agent = db.session.scalar(select(Agent).where(Agent.owner_id == who.owner, Agent.name == name))
    if agent is None:
        raise ApiError(f"no agent named {name!r}", status=404, code="not_found")
    task = db.session.scalar(
        select(AgentTask)
        .where(AgentTask.agent_id == agent.id, AgentTask.kind == "chat")
        .order_by(AgentTask.created_at.desc())
        .limit(1)
    )
    if task is None:
        return jsonify({"id": None, "status": None, "calls": []})
    calls = db.session.scalars(
        select(LlmCallRow).where(LlmCallRow.agent_task_id == task.id).order_by(LlmCallRow.id)
    ).all()
    body = {
        "id": str(task.id),
        "status": task.status,
        "error": task.error,
        "calls": [{"model": c.model, "outcome": c.outcome, "ms": c.duration_ms} for c in calls],
    }
    db.session.rollback()
    return jsonify(body)


@bp.route("/login", methods=["GET", "POST"])
def login():
    settings = _settings()
    target = _safe_next(request.values.get("next"))
    if settings.auth_mode == "none":
        return redirect(target)
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    if not session.same_origin():
        raise Forbidden("cross-site sign-in refused", code="csrf_failed")
    token = (request.form.get("token") or "").strip()
    error = None
    if not token or len(token) > TOKEN_MAX:
        error = "Paste an API token (legato token create --owner NAME)."
    else:
        who = _check_token(token)
        if who is None:
            error = "That token is invalid or revoked."
    if error:  # the form again, with the reason (a page, not an API error)
        return render_template("login.html", next=target, error=error)
    return session.set_session(redirect(target), token)


@bp.post("/logout")
def logout():
    if _settings().auth_mode == "token":
        authenticate()  # the CSRF check: only our own page may sign this browser out
    return session.clear_session(redirect(url_for("console.login")))


def _check_token(token: str) -> Principal | None:
    from flask import g

    from app.auth import hash_token
    from app.models import ApiToken

    row = db.session.query(ApiToken).filter_by(token_hash=hash_token(token)).one_or_none()
    db.session.rollback()
    if row is None or row.revoked_at is not None:
        return None
    g.principal = Principal(owner=row.owner_id, admin=row.is_admin)
    return g.principal


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never an open redirect."""
    default = url_for("console.jobs")
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return default
    return target
