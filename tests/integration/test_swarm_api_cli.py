"""`legato swarm ...` against the API served over HTTP with the real swarm behind it."""

from __future__ import annotations

import json
import threading
import uuid

import docker
import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from app import create_app
from app.cli.main import cli
from app.config import Settings
from app.db import db
from app.models import Agent
from swarm.specs import agent_service_name
from tests.swarm.conftest import docker_client  # noqa: F401 - fixture
from tests.swarm.helpers import RUN_PREFIX, TEST_IMAGE

pytestmark = [pytest.mark.integration, pytest.mark.swarm]


@pytest.fixture(scope="module")
def swarm_api_url(stack_env, docker_client):  # noqa: F811
    flask_app = create_app(Settings(swarm_enabled=True))
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    flask_app.testing = True
    yield flask_app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _run(url: str, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["swarm", *args], env={"LEGATO_API_URL": url})
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_cli_deploy_ls_stop_start_events_rm(swarm_api_url, docker_client):  # noqa: F811
    flask_app, url = swarm_api_url
    agent = f"{RUN_PREFIX}-cli-{uuid.uuid4().hex[:4]}"
    with flask_app.app_context():
        db.session.add(Agent(owner_id="local", name=agent, tier="auto"))
        db.session.commit()
    try:
        out = _run(
            url,
            "deploy",
            agent,
            "--image",
            TEST_IMAGE,
            "--replicas",
            "0",
            "--env",
            "A=1",
            "--command",
            json.dumps(["sleep", "60"]),
        )
        name = agent_service_name(agent, owner="local")
        assert out.startswith("deployed") and name in out
        assert name in _run(url, "ls", "--agents")
        [line] = [x for x in _run(url, "ls").splitlines() if x.startswith(name + " ")]
        assert line.split()[1] == "0/0"  # running/desired
        assert "0/1" in _run(url, "start", name)
        assert "/0" in _run(url, "stop", name)
        history = _run(url, "events", "--service", name)
        assert [line.split()[2] for line in history.splitlines()] == ["stop", "start", "deploy"]
        assert f"removed {name}" in _run(url, "rm", name)
        err = _run(url, "rm", name, ok=False)
        assert "No swarm service named" in err
        assert "manager" in _run(url, "nodes")
    finally:
        for svc in docker_client.services.list(filters={"label": f"legato.agent={agent}"}):
            try:
                svc.remove()
            except docker.errors.NotFound:
                pass


def test_cli_reports_bad_input(swarm_api_url):
    _, url = swarm_api_url
    assert "use NAME=VALUE" in _run(url, "deploy", "x", "--env", "novalue", ok=False)
    assert "no agent" in _run(url, "deploy", f"{RUN_PREFIX}-nobody", ok=False)
