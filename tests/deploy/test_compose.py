"""deploy/docker-compose.yml against the Compose Specification JSON schema (vendored,
see COMPOSE_SPEC_SOURCE.txt) and the wiring the deployment needs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from .helpers import DEPLOY, LEGATO_ENV, TIERS, env_example_names, interpolate, variables

SCHEMA = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
COMPOSE_TEXT = (DEPLOY / "docker-compose.yml").read_text()
ENV = {
    "POSTGRES_PASSWORD": "pw",
    "API_PORT": "8000",
    "FAST_CONCURRENCY": "16",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_TEXT)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _validator():
    # The schema names draft 2019-09 by its old "http://.../schema#" URI, which
    # jsonschema does not map to a draft: pick the draft explicitly.
    cls = jsonschema.Draft201909Validator
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def test_schema_is_the_compose_spec():
    assert SCHEMA["$schema"].startswith("http://json-schema.org/draft/2019-09")
    assert set(SCHEMA["properties"]) >= {"services", "networks", "volumes"}
    enum = SCHEMA["definitions"]["service"]["properties"]["depends_on"]["oneOf"][1][
        "patternProperties"
    ]["^[a-zA-Z0-9._-]+$"]["properties"]["condition"]["enum"]
    assert "service_completed_successfully" in enum


def test_compose_file_validates_against_the_schema(compose):
    errors = sorted(_validator().iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_file_validates_after_interpolation():
    rendered = yaml.safe_load(interpolate(COMPOSE_TEXT, ENV))
    errors = list(_validator().iter_errors(rendered))
    assert not errors, [e.message for e in errors]
    cmd = rendered["services"]["worker-fast"]["command"]
    assert cmd[cmd.index("--concurrency") + 1] == "16"


def test_the_schema_catches_mistakes(compose):
    """The validator is not vacuous: typical mistakes are reported."""
    bad = yaml.safe_load(COMPOSE_TEXT)
    bad["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_done"
    bad["services"]["api"]["helthcheck"] = {}
    bad["services"]["redis"]["healthcheck"]["retries"] = "many"
    messages = [e.message for e in _validator().iter_errors(bad)]
    assert any("service_done" in m for m in messages)
    assert any("helthcheck" in m for m in messages)
    assert any("many" in m for m in messages)


def test_all_roles_present(services):
    expected = {"postgres", "redis", "migrate", "api", "beat", "flower", "worker-maintenance"}
    expected |= {f"worker-{t}" for t in TIERS}
    assert expected <= set(services)


def test_one_worker_per_tier_on_gevent(services):
    # make bench's scenario 3: gevent keeps more calls in flight for less CPU per movement.
    for tier in TIERS:
        svc = services[f"worker-{tier}"]
        cmd = svc["command"]
        assert cmd[:3] == ["worker", "--tier", tier]
        assert cmd[cmd.index("--pool") + 1] == "gevent"
        assert "--concurrency" in cmd
        assert svc["environment"]["TIER"] == tier
        assert svc["labels"]["legato.queue"] == tier
        assert svc["labels"]["legato.managed"] == "true"
    assert services["worker-maintenance"]["command"][:3] == ["worker", "--tier", "maintenance"]
    assert "legato.managed" not in services["worker-maintenance"]["labels"]


def test_one_image_for_every_legato_role(services):
    legato = [n for n in services if n not in ("postgres", "redis")]
    images = {services[n]["image"] for n in legato}
    assert images == {"${LEGATO_IMAGE:-legato:latest}"}
    for name in legato:
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (DEPLOY / ".." / services[name]["build"]["dockerfile"]).resolve().is_file()


def test_migration_runs_once_before_the_app(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ["api", "beat", *(f"worker-{t}" for t in TIERS), "worker-maintenance"]:
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_depends_on_targets_exist_and_can_satisfy_the_condition(services):
    for name, svc in services.items():
        for target, cond in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if cond["condition"] == "service_healthy":
                hc = services[target].get("healthcheck")
                assert hc and not hc.get("disable") and hc.get("test"), (name, target)
            if cond["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", (name, target)


def test_healthchecks(services):
    for name, svc in services.items():
        if name == "migrate":
            assert svc["healthcheck"] == {"disable": True}
            continue
        hc = svc.get("healthcheck")
        assert hc and hc.get("test"), f"{name} has no healthcheck"
    assert services["api"]["environment"]["LEGATO_ROLE"] == "api"
    assert services["flower"]["environment"]["LEGATO_ROLE"] == "flower"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_api_and_flower_ports(services):
    assert services["api"]["command"][0] == "api"
    assert services["api"]["ports"] == ["${API_PORT:-8000}:8000"]
    assert services["api"]["environment"]["PORT"] == "8000"
    assert services["flower"]["command"] == ["flower"]
    assert services["flower"]["ports"] == ["${FLOWER_HOST_PORT:-5555}:5555"]


def test_settings_reach_the_containers(services):
    for name, svc in services.items():
        if name in ("postgres", "redis"):
            continue
        env = svc["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["BROKER_URL"] == "redis://redis:6379/0"
        assert svc["env_file"] == ".env"


def test_no_docker_socket_in_compose(services):
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            assert "docker.sock" not in str(vol), name


def test_every_variable_is_documented_in_env_example():
    documented = env_example_names()
    missing = variables(COMPOSE_TEXT) - documented
    assert not missing, f"not in deploy/.env.example: {sorted(missing)}"
    assert documented >= LEGATO_ENV, sorted(LEGATO_ENV - documented)
    for tier_var in ("LLM_QUALITY_BASE_URL", "LLM_QUALITY_MODEL", "LLM_QUALITY_API_KEY"):
        assert tier_var in documented
