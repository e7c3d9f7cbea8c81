"""Agent names are unique per owner, so dedicated queues must be per owner too."""

from __future__ import annotations

import pytest

from app import create_app
from app.auth import create_token
from app.config import Settings
from app.db import db

pytestmark = pytest.mark.integration


def test_two_owners_dedicated_agents_of_one_name_get_separate_queues(stack_env):
    flask_app = create_app(Settings(auth_mode="token"))
    with flask_app.app_context():
        tokens = [create_token(owner) for owner in ("queue-alice", "queue-bob")]
        db.session.commit()
    client = flask_app.test_client()
    queues = []
    for token in tokens:
        made = client.post(
            "/api/agents",
            json={"name": "twin", "dedicated": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert made.status_code == 201, made.get_json()
        queues.append(made.get_json()["queue"])
    assert queues[0] != queues[1]
    assert all(q.startswith("agent.twin.") and len(q) <= 64 for q in queues)
