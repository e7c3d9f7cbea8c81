"""Per-owner rate limits over real HTTP, counted in the session's real Redis.

Two API "replicas" (two apps, two HTTP servers) share one budget per owner because
the counts live in Redis; another owner's budget is untouched.
"""

from __future__ import annotations

import threading

import pytest
import redis
import requests
from werkzeug.serving import make_server

from app import create_app
from app.auth import create_token
from app.config import Settings
from app.db import db
from tests.conftest import IDLE_TIER

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replicas(stack_env):
    settings = Settings(auth_mode="token", rate_limit_submit="3/hour", rate_limit_validate="1/hour")
    servers, bases = [], []
    for _ in range(2):
        flask_app = create_app(settings)
        server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        bases.append(f"http://127.0.0.1:{server.server_port}")
    with flask_app.app_context():
        # Owners unique to this run: the Redis counters outlive an hour-long window.
        suffix = stack_env["BROKER_KEY_PREFIX"].strip(":").rsplit("-", 1)[-1]
        tokens = {who: create_token(f"{who}-{suffix}") for who in ("alice", "bob", "carol")}
        db.session.commit()
    yield bases, tokens
    for server in servers:
        server.shutdown()


def _post(base: str, token: str | None, path: str, body: dict) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(base + path, json=body, headers=headers, timeout=30)


JOB = {"instruction": "count me", "piece": "demo", "tier": IDLE_TIER}


def test_submissions_share_one_budget_per_owner_across_replicas(replicas, stack_env):
    (one, two), tokens = replicas
    alice, bob = tokens["alice"], tokens["bob"]
    assert _post(one, alice, "/api/jobs", JOB).status_code == 201
    assert _post(two, alice, "/api/jobs", JOB).status_code == 201
    made = _post(one, alice, "/api/agents", {"name": "limited", "tier": IDLE_TIER})
    assert made.status_code == 201  # registering an agent is not a submission
    # An agent task draws on the same budget as jobs: this is alice's third.
    assert _post(two, alice, "/api/agents/limited/tasks", {"message": "x"}).status_code == 202

    for base, path, body in (
        (one, "/api/jobs", JOB),
        (two, "/api/agents/limited/chat", {"message": "hi"}),
        (one, "/api/agents/limited/tasks", {"message": "y"}),
    ):
        refused = _post(base, alice, path, body)
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert error["code"] == "rate_limited" and "3 per 1 hour" in error["message"]
        wait = int(refused.headers["Retry-After"])  # reset_at is rounded up
        assert 0 < wait <= 3601 and error["details"]["retry_after"] == wait

    # Another owner has a budget of their own, and nobody's 401 is a 429.
    assert _post(one, bob, "/api/jobs", JOB).status_code == 201
    assert _post(one, None, "/api/jobs", JOB).status_code == 401
    assert _post(one, "lgt_not-a-token", "/api/jobs", JOB).status_code == 401
    # The counts are in Redis, under this deployment's key prefix.
    keys = redis.Redis.from_url(stack_env["BROKER_URL"]).keys(
        f"*{stack_env['BROKER_KEY_PREFIX']}legato-ratelimit/owner:alice-*/submit/*"
    )
    assert len(keys) == 1


def test_validation_has_its_own_budget(replicas):
    (one, two), tokens = replicas
    carol = tokens["carol"]
    piece = {"yaml": "name: p\nmovements: []\n"}
    assert _post(one, carol, "/api/pieces/validate", piece).status_code == 200
    refused = _post(two, carol, "/api/pieces/validate", piece)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    # /api/workflows/validate is the same operation under TAKT v0.60's word: one budget
    assert _post(one, carol, "/api/workflows/validate", piece).status_code == 429
    assert _post(one, carol, "/api/jobs", JOB).status_code == 201  # submissions unaffected


def test_limits_are_off_unless_configured_and_bad_values_are_refused(stack_env):
    assert "legato.limiter" not in create_app(Settings()).extensions
    with pytest.raises(ValueError, match="couldn't parse"):
        Settings(rate_limit_submit="lots")
