"""/metrics over real HTTP in token mode: the metrics token or an admin token, nothing else;
and scrapes within METRICS_CACHE_SECONDS reuse one aggregation."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from app.auth import create_token
from app.config import Settings
from app.db import db
from app.traces import ToolTraceRow

pytestmark = pytest.mark.integration

METRICS_TOKEN = "prometheus-reads-this"


@pytest.fixture(scope="module")
def served(stack_env):
    settings = Settings(auth_mode="token", metrics_token=METRICS_TOKEN, metrics_cache_seconds=3600)
    flask_app = create_app(settings)
    with flask_app.app_context():
        tokens = {
            "owner": create_token("metrics-owner"),
            "admin": create_token("metrics-admin", admin=True),
        }
        db.session.commit()
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", tokens
    server.shutdown()


def scrape(base: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{base}/metrics", headers=headers, timeout=30)


def test_metrics_need_the_metrics_token_or_an_admin_token(served):
    base, tokens = served
    anonymous = scrape(base, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert "jobs" not in anonymous.text.split("error")[0]
    assert scrape(base, "wrong-token").status_code == 401
    owner = scrape(base, tokens["owner"])
    assert owner.status_code == 403 and "METRICS_TOKEN" in owner.json()["error"]["message"]
    for token in (METRICS_TOKEN, tokens["admin"]):
        ok = scrape(base, token)
        assert ok.status_code == 200
        assert ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "# TYPE jobs gauge" in ok.text


def test_scrapes_within_the_cache_window_reuse_one_aggregation(served, stack_env):
    base, _ = served
    first = scrape(base, METRICS_TOKEN).text
    probe = f"cache-probe-{uuid.uuid4().hex[:8]}"
    uncached = create_app(Settings(metrics_cache_seconds=0))
    with uncached.app_context():
        db.session.add(ToolTraceRow(tool=probe, outcome="ok"))
        db.session.commit()
    # A fresh aggregation sees the new row; the cached text (an hour's window) does not.
    assert probe in uncached.test_client().get("/metrics").get_data(as_text=True)
    assert scrape(base, METRICS_TOKEN).text == first
