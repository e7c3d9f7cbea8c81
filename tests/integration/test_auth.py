"""Bearer tokens, owner scoping and admin listing (AUTH_MODE=token)."""

from __future__ import annotations

import pytest

from app import create_app
from app.auth import create_token, hash_token
from app.config import Settings
from app.db import db
from app.models import ApiToken

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def token_app(stack_env):
    flask_app = create_app(Settings(auth_mode="token"))
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture(scope="module")
def tokens(token_app) -> dict[str, str]:
    with token_app.app_context():
        made = {
            "alice": create_token("alice"),
            "bob": create_token("bob"),
            "admin": create_token("ops", admin=True),
        }
        db.session.commit()
    return made


def _as(token_app, token: str | None):
    client = token_app.test_client()
    if token:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _submit(client, **body):
    body.setdefault("instruction", "x")
    body.setdefault("tier", "idle")
    resp = client.post("/api/jobs", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "token x"])
def test_missing_or_bad_tokens_are_401(token_app, header):
    client = token_app.test_client()
    headers = {"Authorization": header} if header else {}
    resp = client.get("/api/jobs", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_health_and_openapi_need_no_token(token_app):
    client = token_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_tokens_are_stored_hashed(token_app, tokens):
    with token_app.app_context():
        stored = {t.token_hash for t in db.session.query(ApiToken).all()}
    assert hash_token(tokens["alice"]) in stored
    assert tokens["alice"] not in stored


def test_jobs_belong_to_the_token_owner(token_app, tokens):
    job = _submit(_as(token_app, tokens["alice"]))
    assert job["owner_id"] == "alice"


def test_another_owners_private_job_is_404(token_app, tokens):
    job = _submit(_as(token_app, tokens["alice"]))
    bob = _as(token_app, tokens["bob"])
    for resp in (
        bob.get(f"/api/jobs/{job['id']}"),
        bob.get(f"/api/jobs/{job['id']}/events"),
        bob.post(f"/api/jobs/{job['id']}/cancel"),
    ):
        assert resp.status_code == 404
    assert _as(token_app, tokens["alice"]).get(f"/api/jobs/{job['id']}").status_code == 200


def test_a_public_job_is_readable_but_not_cancellable_by_others(token_app, tokens):
    job = _submit(_as(token_app, tokens["alice"]), visibility="public")
    bob = _as(token_app, tokens["bob"])
    assert bob.get(f"/api/jobs/{job['id']}").status_code == 200
    assert bob.post(f"/api/jobs/{job['id']}/cancel").status_code == 403


def test_listing_is_scoped_and_admins_see_across_owners(token_app, tokens):
    alice_job = _submit(_as(token_app, tokens["alice"]))
    bob_job = _submit(_as(token_app, tokens["bob"]))

    bob = _as(token_app, tokens["bob"])
    bob_ids = {j["id"] for j in bob.get("/api/jobs?limit=200").get_json()["items"]}
    assert bob_job["id"] in bob_ids and alice_job["id"] not in bob_ids
    assert bob.get("/api/jobs?owner=alice").status_code == 403
    assert bob.get("/api/jobs?owner=*").status_code == 403

    admin = _as(token_app, tokens["admin"])
    everyone = {j["id"] for j in admin.get("/api/jobs?owner=*&limit=200").get_json()["items"]}
    assert {alice_job["id"], bob_job["id"]} <= everyone
    only_alice = admin.get("/api/jobs?owner=alice&limit=200").get_json()["items"]
    assert {j["owner_id"] for j in only_alice} == {"alice"}


def test_token_create_command_prints_a_working_token(token_app, stack_env):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--owner", "carol"],
        capture_output=True,
        text=True,
        check=True,
        env={**stack_env, "PATH": "/usr/bin:/bin"},
    )
    token = out.stdout.strip()
    assert token.startswith("lgt_")
    job = _submit(_as(token_app, token))
    assert job["owner_id"] == "carol"
