"""Bash: off unless the deployment enables it; then confined by cwd, time and output."""

from __future__ import annotations

import os
import signal
import subprocess

from agents.tools.base import Tool, ToolContext, ToolError, arg_str, schema


def _bash(ctx: ToolContext, args: dict) -> str:
    if not ctx.limits.allow_shell:
        raise ToolError("shell execution is disabled on this deployment (TOOLS_ALLOW_SHELL)")
    command = arg_str(args, "command")
    ws = ctx.need_workspace()
    # A new session so a timeout kills the whole process group, not just bash.
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=ws.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ws.root)},
    )
    try:
        out, _ = proc.communicate(timeout=ctx.limits.shell_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ToolError(f"command timed out after {ctx.limits.shell_timeout:g}s") from None
    text = out.decode(errors="replace")
    return f"{text}\n[exit code {proc.returncode}]"


TOOLS = [
    Tool(
        "Bash",
        "Run a bash command in the job's workspace (if the deployment allows shell access).",
        schema(["command"], command={"type": "string"}),
        _bash,
    )
]
