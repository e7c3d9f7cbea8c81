"""`legato agents ...`: list, create, delete and chat with registered agents."""

from __future__ import annotations

import json

import click

from app.cli.group import api_call, api_client, cli
from app.cli.output import output_option, print_json, table


@cli.group()
def agents() -> None:
    """Registered agents: list, create, delete, chat."""


@agents.command("ls")
@output_option
def list_agents(output: str) -> None:
    """Your agents: queue, model and tools."""
    page = api_call(api_client().request, "GET", "/api/agents")
    if output == "json":
        print_json(page)
        return
    rows = [
        [a["name"], a["queue"], a["model"] or "(tier default)", ",".join(a["allowed_tools"]) or "-"]
        for a in page["items"]
    ]
    click.echo(table(["NAME", "QUEUE", "MODEL", "TOOLS"], rows, empty="no agents"))


@agents.command("create")
@click.argument("name")
@click.option("--tier", default=None)
@click.option("--model", default=None)
@click.option("--system-prompt", default=None)
@click.option("--tool", "tools", multiple=True, help="An allowed tool; repeat for more.")
@click.option("--max-tool-calls", type=int, default=None)
@click.option("--temperature", type=float, default=None)
@click.option(
    "--dedicated", is_flag=True, help="Run on its own queue (agent.<name>.<key>, see `ls`)."
)
def create_agent(name, tier, model, system_prompt, tools, max_tool_calls, temperature, dedicated):
    body = {
        "name": name,
        "tier": tier,
        "model": model,
        "system_prompt": system_prompt,
        "allowed_tools": list(tools),
        "max_tool_calls": max_tool_calls,
        "temperature": temperature,
        "dedicated": dedicated,
    }
    body = {k: v for k, v in body.items() if v is not None}
    click.echo(
        json.dumps(api_call(api_client().request, "POST", "/api/agents", json=body), indent=2)
    )


@agents.command("rm")
@click.argument("name")
def delete_agent(name: str) -> None:
    api_call(api_client().request, "DELETE", f"/api/agents/{name}")
    click.echo(f"agent {name} deleted")


@agents.command("chat")
@click.argument("name")
@click.argument("message")
@click.option("--session", default=None, help="Continue this session id.")
def chat(name: str, message: str, session: str | None) -> None:
    """Send one message; prints the reply, then the session id on stderr."""
    body = {"message": message, **({"session_id": session} if session else {})}
    out = api_call(api_client().request, "POST", f"/api/agents/{name}/chat", json=body)
    click.echo(out["reply"])
    click.echo(f"session {out['session_id']}", err=True)
