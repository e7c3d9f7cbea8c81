"""A job's payload is bounded in depth and size, over real HTTP; nothing it refuses is
stored, and what it accepts can always be shown and listed again."""

from __future__ import annotations

import json

import pytest
import requests

from app.schemas import PAYLOAD_MAX_DEPTH

pytestmark = pytest.mark.integration


def _nested(depth: int) -> dict:
    payload: dict = {"leaf": 1}
    for _ in range(depth - 1):
        payload = {"a": payload}
    return payload


def _nested_lists(depth: int) -> dict:
    # Built as text: deeper than json.dumps (and Python's recursion) would go.
    return "[" * (depth - 1) + "1" + "]" * (depth - 1)


def _count(live_api: str) -> int:
    resp = requests.get(f"{live_api}/api/jobs", params={"limit": 200}, timeout=30)
    assert resp.status_code == 200, resp.text
    return len(resp.json()["items"])


def _post(live_api: str, data: str) -> requests.Response:
    return requests.post(
        f"{live_api}/api/jobs",
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


@pytest.mark.parametrize("depth", [PAYLOAD_MAX_DEPTH + 1, 600])
def test_a_deeply_nested_payload_is_refused_and_nothing_is_stored(live_api, depth):
    before = _count(live_api)
    body = json.dumps({"instruction": "deep", "payload": _nested(depth)})

    resp = _post(live_api, body)

    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid"
    [detail] = error["details"]
    assert detail["loc"] == "payload"
    assert f"nested more than {PAYLOAD_MAX_DEPTH} levels" in detail["message"]
    # Nothing was committed, and listing still works for this owner (and for admins).
    assert _count(live_api) == before
    everyone = requests.get(f"{live_api}/api/jobs", params={"owner": "*"}, timeout=30)
    assert everyone.status_code == 200, everyone.text


def test_nesting_deeper_than_json_itself_goes_is_a_clear_error(live_api):
    body = '{"instruction": "deeper", "payload": {"a": ' + _nested_lists(100_000) + "}}"
    resp = _post(live_api, body)
    assert resp.status_code in (400, 413, 422), resp.text
    assert resp.json()["error"]["code"] in ("malformed", "too_large", "invalid")


def test_payload_at_the_depth_limit_is_accepted_and_listed(live_api):
    payload = _nested(PAYLOAD_MAX_DEPTH)
    resp = _post(live_api, json.dumps({"instruction": "just deep enough", "payload": payload}))
    assert resp.status_code == 201, resp.text
    job = resp.json()
    try:
        assert job["payload"] == payload
        shown = requests.get(f"{live_api}/api/jobs/{job['id']}", timeout=30)
        assert shown.status_code == 200 and shown.json()["payload"] == payload
        listed = requests.get(f"{live_api}/api/jobs", params={"limit": 200}, timeout=30)
        assert listed.status_code == 200
        assert job["id"] in {j["id"] for j in listed.json()["items"]}
    finally:
        requests.post(f"{live_api}/api/jobs/{job['id']}/cancel", timeout=30)


def test_an_oversized_payload_is_a_413(live_api, stack_env):
    from app.config import get_settings

    limit = get_settings().max_payload_bytes
    before = _count(live_api)
    payload = {"blob": "x" * (limit + 1)}
    resp = _post(live_api, json.dumps({"instruction": "big", "payload": payload}))
    if limit + 200 > get_settings().max_request_bytes:
        pytest.fail("MAX_PAYLOAD_BYTES must be below MAX_REQUEST_BYTES for this test to mean much")
    assert resp.status_code == 413, resp.text
    error = resp.json()["error"]
    assert error["code"] == "too_large"
    assert "payload" in error["message"]
    assert _count(live_api) == before
