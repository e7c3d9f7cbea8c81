"""Per-owner rate limits on the expensive requests, with Flask-Limiter.

Submissions (jobs, agent chat, agent tasks) share one budget per owner
(RATE_LIMIT_SUBMIT); piece validation has its own (RATE_LIMIT_VALIDATE). The counts
live in Redis when the broker is Redis, so every API replica sees one budget; in
memory otherwise (embedded mode has one API process). A request over the limit is a
429 in the JSON error shape with Retry-After. If the counter store is down the
request goes through (and the failure is logged): limits protect capacity, they
must not become an outage of their own.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, jsonify
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from app.config import Settings
from app.errors import Unauthorized, error_body

# endpoint -> the budget it draws from
LIMITED_ENDPOINTS = {
    "jobs.submit_job": "submit",
    "agents.chat": "submit",
    "agents.create_task": "submit",
    "pieces.validate_piece": "validate",
    "workflows.validate_piece": "validate",
}


def _owner() -> str:
    from app.auth import authenticate

    return "owner:" + authenticate().owner


def _anonymous() -> bool:
    # No valid token: no budget to count against; the view itself answers 401.
    from app.auth import authenticate

    try:
        authenticate()
    except Unauthorized:
        return True
    return False


def storage_uri(settings: Settings) -> str:
    broker = settings.broker_url or ""
    return broker if broker.startswith(("redis://", "rediss://")) else "memory://"


def init_limits(app: Flask, settings: Settings) -> Limiter | None:
    """Wrap the limited views of `app` (call after the blueprints are registered)."""
    budgets = {"submit": settings.rate_limit_submit, "validate": settings.rate_limit_validate}
    if not any(budgets.values()):
        return None
    limiter = Limiter(
        key_func=_owner,
        storage_uri=storage_uri(settings),
        strategy="fixed-window",
        key_prefix=f"{settings.broker_key_prefix or ''}legato-ratelimit",
        swallow_errors=True,
        headers_enabled=False,  # Retry-After goes on 429s only, below
    )
    limiter.init_app(app)
    shared = {
        name: limiter.shared_limit(value, scope=name, exempt_when=_anonymous)
        for name, value in budgets.items()
        if value
    }
    for endpoint, budget in LIMITED_ENDPOINTS.items():
        if budget in shared and endpoint in app.view_functions:
            app.view_functions[endpoint] = shared[budget](app.view_functions[endpoint])
    app.extensions["legato.limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):
        current = current_app.extensions["legato.limiter"].current_limit
        wait = max(1, math.ceil(current.reset_at - time.time())) if current else 1
        response = jsonify(
            error_body(
                "rate_limited",
                f"too many requests: the limit is {exc.description}; retry in {wait}s",
                {"limit": exc.description, "retry_after": wait},
            )
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response

    return limiter
