"""Liveness, readiness (503 when a dependency is down) and the OpenAPI document."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.config import Settings
from app.contract import reset_producer
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_ok_with_database_and_broker(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_is_503_when_the_database_is_down(stack_env):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    down = create_app(Settings(database_url=dead)).test_client()
    resp = down.get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["broker"] == "ok"


def test_readyz_is_503_when_the_broker_is_down(stack_env, monkeypatch):
    monkeypatch.setenv("BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    from app.config import reset_settings

    reset_settings()
    reset_producer()
    try:
        resp = create_app().test_client().get("/readyz")
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_producer()
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["broker"].startswith("unreachable")


def test_api_answers_503_not_500_when_the_database_is_down(stack_env):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    down = create_app(Settings(database_url=dead)).test_client()
    resp = down.get("/api/jobs")
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "unavailable"


def test_openapi_documents_every_route_with_error_shapes(client, app):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "meta.openapi", "console_root"):
            continue
        if rule.endpoint.startswith(("console.", "docs.")):  # HTML pages, not the API
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented
    submit = doc["paths"]["/api/jobs"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/JobCreate"
    )
    assert {"201", "400", "413", "422"} <= set(submit["responses"])
    assert doc["components"]["schemas"]["JobCreate"]["additionalProperties"] is False
