"""Bad input: the JSON error shape and a 4xx, never a 500, and nothing is lost."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.helpers import submit

pytestmark = pytest.mark.integration


def _error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def _job_count(client) -> int:
    return len(client.get("/api/jobs?limit=200").get_json()["items"])


def test_malformed_json_is_400(client):
    resp = client.post("/api/jobs", data="{not json", content_type="application/json")
    assert "not valid JSON" in _error(resp, 400, "malformed")["message"]


def test_empty_body_is_400(client):
    _error(client.post("/api/jobs", data="", content_type="application/json"), 400, "malformed")


def test_a_json_array_is_not_a_job(client):
    _error(client.post("/api/jobs", json=[1, 2]), 422)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, "instruction"),
        ({"instruction": ""}, "instruction"),
        ({"instruction": "   "}, "instruction"),
        ({"instruction": 42}, "instruction"),
        ({"instruction": "x", "max_attempts": "3"}, "max_attempts"),
        ({"instruction": "x", "max_attempts": 0}, "max_attempts"),
        ({"instruction": "x", "max_attempts": True}, "max_attempts"),
        ({"instruction": "x", "visibility": "secret"}, "visibility"),
        ({"instruction": "x", "payload": [1]}, "payload"),
        ({"instruction": "x", "piece": "../etc/passwd"}, "piece"),
        ({"instruction": "x", "colour": "blue"}, "colour"),
        ({"instruction": "nul \x00 byte"}, "instruction"),
    ],
)
def test_invalid_fields_are_422_with_their_location(client, body, loc):
    before = _job_count(client)
    error = _error(client.post("/api/jobs", json=body), 422, "invalid")
    assert loc in [d["loc"] for d in error["details"]]
    assert _job_count(client) == before


def test_unknown_piece_is_422_and_lists_what_exists(client):
    error = _error(
        client.post("/api/jobs", json={"instruction": "x", "piece": "nope"}), 422, "unknown_piece"
    )
    assert "demo" in error["details"]["available"]


def test_unknown_tier_is_422(client):
    error = _error(
        client.post("/api/jobs", json={"instruction": "x", "tier": "turbo"}), 422, "unknown_tier"
    )
    assert "auto" in error["details"]["tiers"]


def test_oversized_instruction_is_413(client, app):
    limit = app.extensions["legato.settings"].max_instruction_bytes
    _error(client.post("/api/jobs", json={"instruction": "x" * (limit + 1)}), 413, "too_large")


def test_oversized_body_is_413(client, app):
    limit = app.extensions["legato.settings"].max_request_bytes
    resp = client.post("/api/jobs", data="x" * (limit + 10), content_type="application/json")
    _error(resp, 413, "too_large")


@pytest.mark.parametrize(
    "path", ["/api/jobs/not-a-uuid", "/api/jobs/123/events", "/api/jobs/zzz/cancel"]
)
def test_non_uuid_ids_are_404(client, path):
    method = client.post if path.endswith("cancel") else client.get
    _error(method(path), 404)


def test_unknown_job_is_404(client):
    _error(client.get(f"/api/jobs/{uuid.uuid4()}"), 404, "not_found")
    _error(client.post(f"/api/jobs/{uuid.uuid4()}/cancel"), 404, "not_found")


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=abc", "offset=-1", "status=bogus", "colour=blue", "limit=1&limit=2"]
)
def test_bad_list_queries_are_rejected(client, query):
    resp = client.get(f"/api/jobs?{query}")
    assert resp.status_code in (400, 422)
    _error(resp, resp.status_code)


def test_bad_event_queries_are_rejected(client):
    job = submit(client, tier="idle")
    _error(client.get(f"/api/jobs/{job['id']}/events?after=-5"), 400)
    _error(client.get(f"/api/jobs/{job['id']}/events?follow=maybe"), 422)


def test_unknown_route_and_wrong_method_are_json(client):
    _error(client.get("/api/nothing-here"), 404)
    _error(client.delete("/api/jobs"), 405)


def test_valid_submission_is_201_with_defaults(client):
    job = submit(client, instruction="hello", tier="idle")
    assert job["piece_name"] == "demo"
    assert job["max_attempts"] == 3
    assert job["visibility"] == "private"
    assert job["owner_id"] == "local"
