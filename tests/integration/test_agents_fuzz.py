"""Schemathesis fuzzing of the agent, trace, answer and metrics operations.

tests/integration/test_api_fuzz.py builds its schema at import, before these
blueprints are imported; this module fuzzes them the same way, with the same checks.
The agent operations are fuzzed a second time against the embedded stack (`legato
run`: SQLite, Kombu's SQLAlchemy transport, a real worker), where chat and tasks
really run a turn: one writer at a time must not turn into a 500 or a lock-up.
"""

from __future__ import annotations

import threading

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from werkzeug.serving import make_server

import app.api.agents
import app.api.metrics
import app.api.traces  # noqa: F401
from app import create_app
from app.api.spec import spec
from app.auth import create_token
from app.config import Settings
from app.db import db
from tests.conftest import wait_until
from tests.integration.embedded import embedded_stack
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


# -- the embedded stack ---------------------------------------------------------------

agent_document = spec.document()
agent_document["paths"] = {
    p: ops for p, ops in agent_document["paths"].items() if p.startswith("/api/agents")
}
embedded_schema = schemathesis.openapi.from_dict(agent_document)
# Where a case names an agent, it is this one (served by the stack's worker), so chat
# and task cases run real turns instead of finding no agent.
SERVED_AGENT = "fuzzed"
TURN_PATHS = ("/chat", "/tasks", "/memory")


@pytest.fixture(scope="module")
def embedded_api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded-fuzz")
    with embedded_stack(folder, AUTH_MODE="token", CHAT_TIMEOUT_SECONDS="90") as stack:
        token = stack.token("embedded-fuzzer")
        made = requests.post(
            f"{stack.base}/api/agents",
            json={"name": SERVED_AGENT},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert made.status_code == 201, made.text
        yield stack, token

        def a_task_ran():
            tasks = requests.get(
                f"{stack.base}/api/agents/{SERVED_AGENT}/tasks?limit=200",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).json()["items"]
            return any(t["status"] == "succeeded" and t["reply"] for t in tasks)

        # The fuzzed tasks really ran on the worker, and SQLite never refused a writer.
        wait_until(a_task_ran, timeout=120, interval=1, message="a fuzzed agent task to run")
        assert "database is locked" not in stack.tail(1_000_000)


@embedded_schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_agent_chat_and_tasks_in_embedded_mode(case, embedded_api):
    stack, token = embedded_api
    turn = "/api/agents/{name}/" in case.path and case.path.endswith(TURN_PATHS)
    if turn and not case.meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters["name"] = SERVED_AGENT
    case.call_and_validate(
        base_url=stack.base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )
