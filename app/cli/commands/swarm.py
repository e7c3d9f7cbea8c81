"""`legato swarm ...`: Docker Swarm control through the API (admin token: LEGATO_TOKEN).

The API process needs SWARM_ENABLED=true and a manager's Docker socket; the commands
print its JSON errors (e.g. 503 "Docker is unreachable ... check ...") as they are.
"""

from __future__ import annotations

import json

import click

from app.cli.group import api_call, api_client, cli


@cli.group()
def swarm() -> None:
    """Swarm services and nodes: list, deploy an agent, start, stop, remove."""


def _service_line(svc: dict) -> str:
    idle = svc.get("idle_minutes")
    return (
        f"{svc['name']:<40} {svc['running_replicas']}/{svc['desired_replicas']:<3} "
        f"{svc.get('kind') or '-':<7} queue {svc.get('queue') or '-':<20} "
        f"idle {'-' if idle is None else f'{idle:.1f} min'}"
    )


@swarm.command("ls")
@click.option("--agents", is_flag=True, help="Only dedicated agent services.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
def ls(agents: bool, as_json: bool) -> None:
    """List legato's services: running/desired replicas, queue, idle time."""
    path = "/api/swarm/agents" if agents else "/api/swarm/services"
    items = api_call(api_client().request, "GET", path)["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for svc in items:
        click.echo(_service_line(svc))
    if not items:
        click.echo("no legato services")


@swarm.command("deploy")
@click.argument("agent")
@click.option("--image", default=None, help="Default: the server's WORKER_IMAGE.")
@click.option("--replicas", type=int, default=None)
@click.option("--network", "networks", multiple=True, help="Repeat for several.")
@click.option("--env", "env", multiple=True, help="NAME=VALUE; repeat for several.")
@click.option("--command", "command", default=None, help="Container command (JSON list).")
def deploy(
    agent: str,
    image: str | None,
    replicas: int | None,
    networks: tuple[str, ...],
    env: tuple[str, ...],
    command: str | None,
) -> None:
    """Deploy a service for AGENT (one of your registered agents)."""
    body: dict = {"agent": agent}
    if image:
        body["image"] = image
    if replicas is not None:
        body["replicas"] = replicas
    if networks:
        body["networks"] = list(networks)
    if env:
        pairs = [item.partition("=") for item in env]
        if any(not sep for _, sep, _ in pairs):
            raise click.BadParameter("use NAME=VALUE", param_hint="--env")
        body["env"] = {name: value for name, _, value in pairs}
    if command:
        try:
            body["command"] = json.loads(command)
        except ValueError:
            raise click.BadParameter('a JSON list, e.g. ["sleep", "60"]') from None
    svc = api_call(api_client().request, "POST", "/api/swarm/agents", json=body)
    click.echo(f"deployed {_service_line(svc)}")


@swarm.command("start")
@click.argument("service")
def start(service: str) -> None:
    """Scale SERVICE to 1 replica (one already running keeps its replicas)."""
    svc = api_call(api_client().request, "POST", f"/api/swarm/services/{service}/start")
    click.echo(_service_line(svc))


@swarm.command("stop")
@click.argument("service")
def stop(service: str) -> None:
    """Scale SERVICE to 0 replicas (it stays deployed)."""
    svc = api_call(api_client().request, "POST", f"/api/swarm/services/{service}/stop")
    click.echo(_service_line(svc))


@swarm.command("rm")
@click.argument("service")
def rm(service: str) -> None:
    """Remove SERVICE."""
    api_call(api_client().request, "DELETE", f"/api/swarm/services/{service}")
    click.echo(f"removed {service}")


@swarm.command("nodes")
@click.option("--stats", is_flag=True, help="CPU and memory of legato's containers instead.")
def nodes(stats: bool) -> None:
    """List the swarm's nodes (or container stats with --stats)."""
    if stats:
        for s in api_call(api_client().request, "GET", "/api/nodes/stats")["items"]:
            click.echo(
                f"{s['name']:<50} cpu {s['cpu_percent']:6.2f}%  mem "
                f"{s['memory_used'] / 2**20:8.1f} MiB / {s['memory_limit'] / 2**20:.0f} MiB"
            )
        return
    for n in api_call(api_client().request, "GET", "/api/nodes")["items"]:
        leader = " (leader)" if n.get("leader") else ""
        click.echo(
            f"{n['hostname']:<30} {n['role']}{leader:<9} {n['availability']:<8} {n['state']}"
        )


@swarm.command("events")
@click.option("--service", default=None)
@click.option("--limit", default=20, show_default=True, type=int)
def events(service: str | None, limit: int) -> None:
    """Scaling history, newest first, with reasons."""
    params = {"limit": limit, **({"service": service} if service else {})}
    for e in api_call(api_client().request, "GET", "/api/swarm/events", params=params)["items"]:
        replicas = f"{e['from_replicas']}->{e['to_replicas']}"
        status = "" if e["ok"] else f"  FAILED: {e['error']}"
        click.echo(
            f"{e['created_at']}  {e['service']:<36} {e['action']:<10} {replicas:<6} "
            f"[{e['trigger']}] {e['reason']}{status}"
        )
