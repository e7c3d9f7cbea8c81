"""Schemathesis fuzzing of the agent, trace, answer and metrics operations.

tests/integration/test_api_fuzz.py builds its schema at import, before these
blueprints are imported; this module fuzzes them the same way, with the same checks.
"""

from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from werkzeug.serving import make_server

import app.api.agents
import app.api.metrics
import app.api.traces  # noqa: F401
from app import create_app
from app.api.spec import spec
from app.auth import create_token
from app.config import Settings
from app.db import db
from tests.integration.test_api_fuzz import CHECKS

pytestmark = pytest.mark.integration

MINE = ("/api/agents", "/metrics")


def _mine(path: str) -> bool:
    return path.startswith(MINE) or path.endswith(("/traces", "/answer"))


document = spec.document()
document["paths"] = {p: ops for p, ops in document["paths"].items() if _mine(p)}
schema = schemathesis.openapi.from_dict(document)


@pytest.fixture(scope="module")
def agent_api(stack_env):
    # A short chat timeout: a fuzzed agent on a tier no worker serves answers 503 quickly.
    flask_app = create_app(Settings(auth_mode="token", chat_timeout_seconds=0.5))
    with flask_app.app_context():
        token = create_token("agent-fuzzer")
        db.session.commit()
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", token
    server.shutdown()


def test_every_agent_operation_is_fuzzed():
    paths = set(document["paths"])
    assert {"/api/agents", "/api/agents/{name}/chat", "/metrics"} <= paths
    assert "/api/jobs/{job_id}/traces" in paths and "/api/jobs/{job_id}/answer" in paths


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_5xx_and_responses_match_their_schema(case, agent_api):
    base_url, token = agent_api
    case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )
