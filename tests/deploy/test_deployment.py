"""legato deployed for real: its image built from this checkout, its own services on the
test swarm, and only public surfaces to drive them (the HTTP API, the `legato` CLI in a
container, docker).

One stack for the module (deploying it is the slow part): deploy/stack.yml, plus
deploy/stack.swarm-control.yml (the README's opt-in that gives the API the Docker
socket, for POST /api/swarm/agents), plus tests/deploy/stack.sandbox.yml, which
changes only what this sandbox's Docker cannot do and says why.

PostgreSQL and Redis are the stack's own services (from stand-in images made of
Debian's packages, tests/deploy/images/): the machine's shared ones listen on
127.0.0.1 only, which no container reaches without host networking, and the stack's
own give this test a private database and broker for free. The LLM is the fake
OpenAI-compatible server, listening on the host's docker_gwbridge address, which is
how a task on an overlay network reaches the host.

The tests run in file order and share the stack; each waits for states with generous
timeouts and never for a fixed time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from swarm.specs import agent_queue
from tests.conftest import unavailable
from tests.fakellm import FakeLLM, hang, text, tool_call

from . import images
from .stack_run import Stack, dump, gateway_address, wait_for

# Building the image and deploying the stack happen in the first test's setup: far
# beyond the suite's default per-test timeout on a 2-core machine with vfs storage.
pytestmark = [pytest.mark.swarm, pytest.mark.timeout(2400)]

TIERS = ("fast", "auto", "quality", "reflection")
PIECES = {}
PIECES["deploy-two-tiers"] = """
name: deploy-two-tiers
description: a note written on the fast tier and read back on the quality tier
max_movements: 4
initial_movement: write
movements:
  - name: write
    tier: fast
    allowed_tools: [Write]
    instruction_template: "Write the note for: {task}"
    rules:
      - condition: Written
        next: check
  - name: check
    tier: quality
    allowed_tools: [Read]
    instruction_template: "Read output/note.md for: {task}, and confirm it."
    rules:
      - condition: Confirmed
        next: COMPLETE
"""
PIECES["deploy-one"] = """
name: deploy-one
description: one movement on the job's tier
initial_movement: answer
movements:
  - name: answer
    instruction_template: "Answer: {task}"
    rules:
      - condition: Answered
        next: COMPLETE
"""
# Settings from the operator's .env (every legato service reads it): the fake LLM, the
# test's pieces, and a maintenance loop quick enough for a test.
DOTENV = {
    "LLM_MODEL": "fake-model",
    "LLM_API_KEY": "not-a-real-key",
    "LLM_MAX_RETRIES": "1",
    "LLM_TIMEOUT": "60",
    "PIECES_PATH": "/pieces",
    "MOVEMENT_LEASE_SECONDS": "10",
    "BEAT_RECOVER_STUCK_SECONDS": "5",
    "BEAT_RECONCILE_SECONDS": "5",
    "RECONCILE_AFTER_SECONDS": "15",
    "BEAT_DISPATCH_RETRIES_SECONDS": "5",
    "RETRY_BACKOFF_SECONDS": "1",
    "CHAT_TIMEOUT_SECONDS": "150",
}


def _unavailable(reason: str) -> None:
    unavailable(reason, "run .ci/docker-setup.sh first")


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    if shutil.which("docker") is None:
        _unavailable("no docker CLI")
    try:
        client = docker.DockerClient.from_env(version="auto", timeout=120)
        swarm = client.info().get("Swarm") or {}
    except Exception as exc:
        _unavailable(f"dockerd unreachable: {exc}")
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        _unavailable("dockerd is not a swarm manager")
    if os.geteuid() != 0:
        _unavailable("the deployment test builds a Debian root file system: run it as root")
    yield client
    client.close()


@pytest.fixture(scope="module")
def fake(docker_client) -> Iterator[FakeLLM]:
    with FakeLLM(host=gateway_address(docker_client)) as server:
        yield server


@pytest.fixture(scope="module")
def stack(docker_client, fake) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:6]
    image = f"legato:deploy-{run}"
    base = images.base_image()
    built = images.legato_image([image, "legato:latest"])
    pg = images.stand_in("postgres", base.tag)
    redis = images.stand_in("redis", base.tag)
    for b in (base, built, pg, redis):
        print(f"image {b.tag}: {'cached' if b.cached else 'built'} in {b.seconds:.0f} s")

    workdir = Path(tempfile.mkdtemp(prefix="legato-deploy-"))
    (workdir / "pieces" / "pieces").mkdir(parents=True)
    for name, text_ in PIECES.items():
        (workdir / "pieces" / "pieces" / f"{name}.yaml").write_text(text_)
    for path in (workdir, workdir / "pieces", workdir / "pieces" / "pieces"):
        path.chmod(0o755)  # the containers run as uid 10001
    dotenv = {"LLM_BASE_URL": fake.url, **DOTENV}
    deployment = Stack(docker_client, workdir, image, pg.tag, redis.tag, dotenv)
    started = time.monotonic()
    try:
        deployment.deploy()
        _wait_until_ready(deployment)
        print(f"stack {deployment.name} ready in {time.monotonic() - started:.0f} s")
        yield deployment
    except BaseException:
        print(deployment.logs())
        raise
    finally:
        deployment.remove()
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_ready(stack: Stack) -> None:
    migrate = stack.service("migrate")
    wait_for(
        "the migrate task to complete",
        lambda: any(t["Status"]["State"] == "complete" for t in migrate.tasks()),
        300,
        2,
    )
    wait_for("GET /readyz to answer 200", lambda: stack.status("/readyz") == 200, 300, 2)
    stack.token = stack.exec("api", "legato", "token", "create", "--owner", "deploy", "--admin")
    assert stack.token, "legato token create printed no token"
    wanted = {*TIERS, "maintenance"}
    wait_for(
        f"a Celery worker on each of {sorted(wanted)}",
        lambda: wanted <= set(stack.consumers()),
        300,
        2,
    )


def _runs(job: dict, name: str) -> list[dict]:
    return [r for r in job["runs"] if r["name"] == name]


def _submit(stack: Stack, instruction: str, piece: str, **extra) -> dict:
    return stack.api(
        "POST", "/api/jobs", {"instruction": instruction, "piece": piece, **extra}, expect=201
    )


def _script_two_tiers(fake: FakeLLM, nonce: str, *check_first) -> None:
    """The fake's answers for one deploy-two-tiers job (matched by the nonce in its task)."""
    fake.when(
        lambda r: r.movement == "write" and nonce in r.prompt,
        tool_call("Write", {"path": "output/note.md", "content": nonce}),
        text("Written [STEP:0]"),
    )
    fake.when(
        lambda r: r.movement == "check" and nonce in r.prompt,
        *check_first,
        tool_call("Read", {"path": "output/note.md"}),
        text("Confirmed [STEP:0]"),
    )


# -- the image ---------------------------------------------------------------------------


def test_the_image_answers_runs_unprivileged_and_has_git(stack):
    image = stack.shell_env["LEGATO_IMAGE"]
    version = subprocess.run(
        ["docker", "run", "--rm", image, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("legato, version ")
    probe = "id -u; git --version; ls /var/lib/apt/lists | wc -l; command -v gcc cc pip || true"
    out = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", image, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0] == "10001"
    assert out[1].startswith("git version ")
    assert out[2] == "0", "apt package lists left in the image"
    assert out[3] == "", f"build tools in the runtime image: {out[3:]}"


# -- a job across two tiers -------------------------------------------------------------


def test_a_two_tier_job_runs_on_both_tier_services(stack, fake):
    nonce = f"note-{uuid.uuid4().hex[:8]}"
    _script_two_tiers(fake, nonce)
    job = _submit(stack, f"deploy check {nonce}", "deploy-two-tiers")
    job = stack.wait_for_job(job["id"], timeout=300)

    assert job["status"] == "succeeded", dump(job)
    [write], [check] = _runs(job, "write"), _runs(job, "check")
    assert (write["tier"], write["status"]) == ("fast", "completed")
    assert (check["tier"], check["status"]) == ("quality", "completed")
    # Each tier's queue has one consumer, in its own service's container.
    consumers = stack.consumers()
    fast_host = stack.container("worker-fast").attrs["Config"]["Hostname"]
    quality_host = stack.container("worker-quality").attrs["Config"]["Hostname"]
    assert [h.split("@")[-1] for h in consumers["fast"]] == [fast_host]
    assert [h.split("@")[-1] for h in consumers["quality"]] == [quality_host]
    # The note written in the fast worker's container was read in the quality worker's:
    # the workspace volume is shared, and the workspace is a git repository there.
    reads = [
        t for t in stack.api("GET", f"/api/jobs/{job['id']}/traces")["items"] if t["tool"] == "Read"
    ]
    assert [(t["movement"], t["outcome"], t["output"]) for t in reads] == [("check", "ok", nonce)]
    ws = f"/data/workspaces/{job['id']}"
    assert stack.exec("worker-quality", "git", "-C", ws, "show", "HEAD:output/note.md") == nonce


# -- a worker killed mid-movement ----------------------------------------------------------


def test_a_worker_killed_mid_movement_and_the_job_finishes_once(stack, fake):
    nonce = f"kill-{uuid.uuid4().hex[:8]}"
    _script_two_tiers(fake, nonce, hang(600))  # the first `check` call never answers
    job = _submit(stack, f"deploy check {nonce}", "deploy-two-tiers")

    def hanging():
        return [r for r in fake.chat_requests if r.movement == "check" and nonce in r.prompt]

    [first] = wait_for("the check movement's first LLM call", hanging, 300)
    victim = stack.container("worker-quality")
    victim.kill()  # SIGKILL: no warm shutdown, no ack, the lease stops being renewed

    job = stack.wait_for_job(job["id"], timeout=300)
    assert job["status"] == "succeeded", dump(job)
    checks = _runs(job, "check")
    completed = [r for r in checks if r["status"] == "completed"]
    assert len(completed) == 1, dump(checks)
    killed = [r for r in checks if r["id"] == first.run]
    assert killed and killed[0]["status"] != "completed", dump(checks)
    assert [r["status"] for r in _runs(job, "write")] == ["completed"]
    # The movement after the kill ran once: only the replacement run called the LLM
    # after the killed one, and the job ended once.
    runs_called = {r.run for r in hanging()}
    assert runs_called == {first.run, completed[0]["id"]}
    assert len([r for r in hanging() if r.run == first.run]) == 1
    ends = [e for e in stack.events(job["id"]) if e["kind"] == "job_succeeded"]
    assert len(ends) == 1, dump(stack.events(job["id"]))
    # Swarm replaced the killed container.
    assert stack.container("worker-quality").id != victim.id


# -- a worker that cannot reach the database -------------------------------------------------


def test_a_worker_that_cannot_reach_the_database_is_replaced(stack):
    svc = f"{stack.name}_worker-auto"
    sick = stack.container("worker-auto")
    wait_for("worker-auto to be healthy", lambda: stack.health(sick)["Status"] == "healthy", 240)
    # Cut this one container off from PostgreSQL: a blackhole route to the database's
    # address in the container's network namespace. Its Celery worker still talks to
    # Redis, so only a health check that asks the database can notice.
    db_ip = stack.exec(
        "worker-auto", "python", "-c", "import socket; print(socket.gethostbyname('postgres'))"
    )
    pid = str(sick.attrs["State"]["Pid"])
    subprocess.run(
        ["nsenter", "-t", pid, "-n", "ip", "route", "add", "blackhole", f"{db_ip}/32"],
        check=True,
        capture_output=True,
    )

    health = wait_for(
        "the cut-off worker to be unhealthy",
        lambda: (h := stack.health(sick)).get("Status") == "unhealthy" and h,
        240,
        2,
    )
    last = health["Log"][-1]["Output"]
    assert "database: FAIL" in last and "broker: ok" in last, last

    def replaced():
        fresh = [c for c in stack.containers(svc) if c.id != sick.id]
        return fresh and stack.health(fresh[0]).get("Status") == "healthy" and fresh[0]

    fresh = wait_for("Swarm to replace it with a healthy task", replaced, 300, 2)
    assert fresh.id != sick.id


# -- a dedicated agent's service, deployed through the API -------------------------------------


def test_an_agent_service_deployed_through_the_api_answers_a_chat(stack, fake):
    name = f"dep-{uuid.uuid4().hex[:6]}"
    marker = f"You are agent {name}."
    stack.api(
        "POST",
        "/api/agents",
        {"name": name, "tier": "fast", "dedicated": True, "system_prompt": marker},
        expect=201,
    )
    service = stack.api("POST", "/api/swarm/agents", {"agent": name}, expect=201)
    stack.agent_services.append(service["name"])
    queue = agent_queue(name, owner="deploy")  # the owner of the stack's admin token
    assert service["queue"] == queue and service["kind"] == "agent"

    def running():
        items = stack.api("GET", "/api/swarm/agents")["items"]
        return any(s["name"] == service["name"] and s["running_replicas"] == 1 for s in items)

    wait_for("the agent service to run", running, 300, 2)
    wait_for(
        f"a worker consuming {queue}",
        lambda: queue in stack.consumers(),
        300,
        2,
    )
    fake.when(lambda r: marker in r.prompt, text(f"Hello from {name}'s own service."))
    reply = stack.api("POST", f"/api/agents/{name}/chat", {"message": "Who answers?"})
    assert reply["reply"] == f"Hello from {name}'s own service.", reply
    # Nothing else consumes the agent's queue: its own service answered.
    [host] = stack.consumers()[queue]
    [container] = stack.containers(service["name"])
    assert host.split("@")[-1] == container.attrs["Config"]["Hostname"]


# -- scale to zero and back --------------------------------------------------------------------


def test_an_idle_tier_goes_to_zero_and_comes_back_for_a_job(stack, fake):
    # An operator shortens the idle threshold of the running stack (beat runs the scaler).
    stack.docker(
        "service",
        "update",
        "--detach",
        "--env-add",
        "IDLE_SCALE_DOWN_MINUTES=0.1",
        f"{stack.name}_beat",
    )
    for tier in ("reflection", "auto"):
        service = f"worker-{tier}"
        wait_for(f"beat to scale {service} to 0", lambda s=service: stack.replicas(s) == 0, 300, 2)
    svc = f"{stack.name}_worker-auto"
    wait_for("worker-auto's containers to stop", lambda: not stack.containers(svc), 180, 2)

    nonce = f"wake-{uuid.uuid4().hex[:8]}"
    fake.when(lambda r: nonce in r.prompt, text("Answered [STEP:0]"))
    job = _submit(stack, f"come back for {nonce}", "deploy-one", tier="auto")
    job = stack.wait_for_job(job["id"], timeout=300)
    assert job["status"] == "succeeded", dump(job)
    assert [r["tier"] for r in job["runs"]] == ["auto"]

    events = stack.api("GET", f"/api/swarm/events?service={svc}")["items"]
    actions = [(e["action"], e["trigger"], e["to_replicas"]) for e in events if e["ok"]]
    assert ("scale_down", "idle", 0) in actions, dump(events)
    assert any(a == "scale_up" and t == "enqueue" and n >= 1 for a, t, n in actions), dump(events)
