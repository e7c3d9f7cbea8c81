"""Schemathesis over the swarm-control operations, against the real app and dockerd.

Two deployments are fuzzed: an admin of an app with SWARM_ENABLED and the real
swarm (random names are unknown services, random agents are not registered, so
nothing real is changed), and an app with swarm control off (a clean 503). Neither
may answer a 5xx other than a documented 503 JSON, nor break its own schema.
"""

from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from werkzeug.serving import make_server

import app.api.swarm  # noqa: F401 - registers the operations before the document is read
from app import create_app
from app.api.spec import spec
from app.auth import create_token
from app.config import Settings
from app.db import db
from tests.integration.test_api_fuzz import CHECKS
from tests.swarm.conftest import docker_client  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.swarm]

schema = schemathesis.openapi.from_dict(spec.document()).include(path_regex=r"^/api/(nodes|swarm)")


def _serve(flask_app):
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def admin_api(stack_env, docker_client):  # noqa: F811
    flask_app = create_app(Settings(auth_mode="token", swarm_enabled=True))
    with flask_app.app_context():
        token = create_token("swarm-fuzzer", admin=True)
        db.session.commit()
    server = _serve(flask_app)
    yield f"http://127.0.0.1:{server.server_port}", token
    server.shutdown()


@pytest.fixture(scope="module")
def disabled_api(stack_env):
    flask_app = create_app(Settings(auth_mode="token", swarm_enabled=False))
    with flask_app.app_context():
        token = create_token("swarm-fuzzer-off", admin=True)
        db.session.commit()
    server = _serve(flask_app)
    yield f"http://127.0.0.1:{server.server_port}", token
    server.shutdown()


FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_swarm_operations_are_documented():
    paths = {(op.method.upper(), op.path) for op in spec.operations}
    assert {
        ("GET", "/api/nodes"),
        ("GET", "/api/nodes/stats"),
        ("GET", "/api/swarm/services"),
        ("GET", "/api/swarm/agents"),
        ("POST", "/api/swarm/agents"),
        ("POST", "/api/swarm/services/{name}/start"),
        ("POST", "/api/swarm/services/{name}/stop"),
        ("DELETE", "/api/swarm/services/{name}"),
        ("GET", "/api/swarm/events"),
    } <= paths


@schema.parametrize()
@FUZZ
def test_admin_against_the_real_swarm(case, admin_api):
    base_url, token = admin_api
    case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )


@schema.parametrize()
@FUZZ
def test_swarm_control_off(case, disabled_api):
    base_url, token = disabled_api
    response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    # Here a 503 is the promised answer (a dependency is off), so "no 5xx" becomes
    # "no 5xx but the documented 503 with its JSON error".
    case.validate_response(response, checks=[c for c in CHECKS if c is not not_a_server_error])
    if response.status_code >= 500:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "swarm_disabled", response.text
