"""`legato token create | ls | revoke` against the session's PostgreSQL, and what the API
makes of the tokens: owners are checked, revoked and expired tokens are a 401."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from app import create_app
from app.cli.main import cli
from app.config import Settings
from app.db import db, utcnow_plus
from app.models import ApiToken

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(stack_env):
    flask_app = create_app(Settings(auth_mode="token"))
    return flask_app, flask_app.test_client()


def legato(*args: str):
    return CliRunner().invoke(cli, list(args))


def status(client, token: str) -> int:
    return client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.mark.parametrize("owner", ["*", "", "-x", "a b", "a/b", "x" * 129, "ü"])
def test_invalid_owner_names_are_refused(owner, api):
    made = legato("token", "create", "--owner", owner)
    assert made.exit_code == 2, made.output
    assert "invalid owner" in made.output


def test_create_list_revoke(api):
    _, client = api
    owner = f"tok-{uuid.uuid4().hex[:6]}@example.com"
    made = legato("token", "create", "--owner", owner, "--name", "ci", "--expires-in", "30d")
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    assert status(client, token) == 200

    listed = legato("token", "ls", "--owner", owner)
    assert listed.exit_code == 0
    [line] = listed.output.splitlines()
    assert line.startswith(token[:12]) and " active " in line and "ci" in line
    assert "expires -" not in line  # an expiry date is shown
    assert token not in listed.output  # never the token itself

    revoked = legato("token", "revoke", token[:12])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert status(client, token) == 401
    assert legato("token", "ls", "--owner", owner).output.strip() == "no tokens"
    assert " revoked " in legato("token", "ls", "--owner", owner, "--all").output
    again = legato("token", "revoke", token[:12])
    assert again.exit_code == 1 and "no live token" in again.output


def test_an_expired_token_is_refused(api):
    flask_app, client = api
    owner = f"exp-{uuid.uuid4().hex[:6]}"
    token = legato("token", "create", "--owner", owner, "--expires-in", "1h").output.strip()
    assert status(client, token) == 200
    with flask_app.app_context():  # an hour later, by the database's clock
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.owner_id == owner)
            .values(expires_at=utcnow_plus(-1))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    resp = client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "token_expired"
    assert " expired " in legato("token", "ls", "--owner", owner, "--all").output


def test_a_token_made_for_star_before_owners_were_checked_lists_nothing(api):
    flask_app, client = api
    from app.auth import hash_token

    token = f"lgt_legacy-{uuid.uuid4().hex}"
    with flask_app.app_context():
        db.session.add(
            ApiToken(owner_id="*", token_hash=hash_token(token), prefix=token[:12], is_admin=False)
        )
        db.session.commit()
    assert status(client, token) == 401


def test_owner_filter_uses_the_same_rule(api):
    flask_app, client = api
    assert client.get("/api/jobs?owner=a%20b").status_code == 401  # no token: 401 first
    with flask_app.app_context():
        from app.auth import create_token

        admin = create_token("tok-admin", admin=True)
        db.session.commit()
    headers = {"Authorization": f"Bearer {admin}"}
    assert client.get("/api/jobs?owner=*", headers=headers).status_code == 200
    assert client.get("/api/jobs?owner=tok-admin", headers=headers).status_code == 200
    assert client.get("/api/jobs?owner=a%20b", headers=headers).status_code == 422
