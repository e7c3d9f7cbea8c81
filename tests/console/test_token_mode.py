"""AUTH_MODE=token in a real browser: sign-in, and a cross-site form that must not act."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import expect

from app import create_app
from app.auth import create_token
from app.config import Settings
from app.db import db
from tests.conftest import IDLE_TIER
from tests.console.conftest import screenshot, serve
from tests.integration.idle import no_idle_jobs_left  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def token_api(stack_env):
    flask_app = create_app(Settings(auth_mode="token"))
    with flask_app.app_context():
        token = create_token("dana")
        db.session.commit()
    base, server = serve(flask_app)
    yield base, token
    server.shutdown()


@pytest.fixture
def attacker():
    """Another origin (same host, other port) whose page posts a form to legato."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", pages
    server.shutdown()


def test_pages_need_a_token_and_sign_in_works(page, token_api):
    base, token = token_api
    page.goto(f"{base}/ui/pieces")
    expect(page).to_have_url(f"{base}/ui/login?next=/ui/pieces")
    expect(page.locator("label[for=token]")).to_have_text("API token")
    unauthenticated = requests.get(f"{base}/api/jobs", timeout=10)
    assert unauthenticated.status_code == 401

    page.fill("#token", "lgt_not-a-real-token")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("invalid or revoked")
    screenshot(page, "login")

    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/ui/pieces")
    expect(page.locator("#pieces-body")).to_contain_text("demo")
    expect(page.locator(".who")).to_contain_text("dana")


def test_a_cross_site_form_cannot_act_with_the_cookie(browser, token_api, attacker):
    base, token = token_api
    evil, pages = attacker
    job = requests.post(
        f"{base}/api/jobs",
        json={"instruction": "do not cancel me", "tier": IDLE_TIER},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    pages["/"] = (
        f'<form id="f" method="post" action="{base}/api/jobs/{job["id"]}/cancel">'
        '<input name="csrf_token" value="guessed"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    # A browser that is signed in to legato (the cookie is SameSite=Strict, but another
    # port of the same host is the same site, so the browser does send it).
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{base}/ui/login")
    tab.fill("#token", token)
    tab.click("button[type=submit]")
    expect(tab.locator("#jobs-table")).to_be_visible()

    with tab.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        tab.goto(evil + "/")
    assert answer.value.status == 403
    assert answer.value.json()["error"]["code"] == "csrf_failed"
    context.close()
    status = requests.get(
        f"{base}/api/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["status"]
    assert status == "queued"
