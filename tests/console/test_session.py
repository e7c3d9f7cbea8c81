"""The console's sign-in cookie and CSRF rules, request by request (AUTH_MODE=token and none)."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.auth import create_token
from app.config import Settings
from app.db import db
from tests.integration.idle import no_idle_jobs_left  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.integration

HOST = "http://localhost"


@pytest.fixture(scope="module")
def token_app(stack_env):
    flask_app = create_app(Settings(auth_mode="token"))
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture(scope="module")
def token(token_app) -> str:
    with token_app.app_context():
        value = create_token("carol")
        db.session.commit()
    return value


def _signed_in(token_app, token):
    client = token_app.test_client()
    resp = client.post("/ui/login", data={"token": token}, headers={"Origin": HOST})
    assert resp.status_code == 302, resp.data
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token in cookie
    page = client.get("/ui/").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)
    return client, csrf


def _job(client, csrf) -> str:
    resp = client.post(
        "/api/jobs",
        json={"instruction": "x", "tier": "idle"},
        headers={"Origin": HOST, "X-CSRF-Token": csrf},
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def test_pages_need_a_sign_in(token_app):
    client = token_app.test_client()
    for path in ("/ui/", "/ui/pieces", "/ui/agents", "/ui/workers"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/ui/login" in resp.headers["Location"], path
    assert client.get("/").headers["Location"].endswith("/ui/")
    assert client.get("/ui/login").status_code == 200


def test_a_bad_token_is_refused_and_no_cookie_is_set(token_app):
    client = token_app.test_client()
    for value in ("", "lgt_nope", "x" * 600):
        resp = client.post("/ui/login", data={"token": value}, headers={"Origin": HOST})
        assert resp.status_code == 200  # the form again, saying why
        assert 'role="alert"' in resp.get_data(as_text=True)
        assert "Set-Cookie" not in resp.headers
        assert client.get("/ui/").status_code == 302


def test_sign_in_from_another_site_is_refused(token_app, token):
    resp = token_app.test_client().post(
        "/ui/login", data={"token": token}, headers={"Origin": "http://evil.example"}
    )
    assert resp.status_code == 403
    assert "Set-Cookie" not in resp.headers


def test_the_cookie_reads_the_api_and_changes_need_origin_and_csrf(token_app, token):
    client, csrf = _signed_in(token_app, token)
    assert client.get("/api/jobs").status_code == 200  # reads need no CSRF token
    job = _job(client, csrf)
    cancel = f"/api/jobs/{job}/cancel"
    refused = [
        {"Origin": "http://evil.example", "X-CSRF-Token": csrf},  # another site
        {"Origin": HOST},  # no token
        {"Origin": HOST, "X-CSRF-Token": "0" * 64},  # a wrong token
        {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf},
        {"Origin": "null", "X-CSRF-Token": csrf},
    ]
    for headers in refused:
        resp = client.post(cancel, headers=headers)
        assert resp.status_code == 403, headers
        assert resp.get_json()["error"]["code"] == "csrf_failed"
    assert client.get(f"/api/jobs/{job}").get_json()["status"] == "queued"
    ok = client.post(cancel, headers={"Origin": HOST, "X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert ok.get_json()["status"] == "cancelled"


def test_bearer_clients_are_not_affected(token_app, token):
    client = token_app.test_client()
    resp = client.post(
        "/api/jobs",
        json={"instruction": "x", "tier": "idle"},
        headers={"Authorization": f"Bearer {token}", "Origin": "http://evil.example"},
    )
    assert resp.status_code == 201


def test_sign_out_forgets_the_cookie(token_app, token):
    client, csrf = _signed_in(token_app, token)
    refused = client.post("/ui/logout", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    resp = client.post("/ui/logout", data={"csrf_token": csrf}, headers={"Origin": HOST})
    assert resp.status_code == 302
    assert client.get("/ui/").status_code == 302


def test_login_never_redirects_off_site(token_app, token):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        resp = token_app.test_client().post(
            "/ui/login", data={"token": token, "next": target}, headers={"Origin": HOST}
        )
        assert resp.headers["Location"] == "/ui/", target


def test_none_mode_refuses_cross_site_changes(client):
    resp = client.post(
        "/api/jobs",
        json={"instruction": "x", "tier": "idle"},
        headers={"Origin": "http://evil.example"},
    )
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "csrf_failed"
    # the CLI (no Origin, no cookie) is untouched
    assert client.post("/api/jobs", json={"instruction": "x", "tier": "idle"}).status_code == 201


def test_pages_set_a_strict_content_security_policy(client):
    for path in ("/ui/", "/docs"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
