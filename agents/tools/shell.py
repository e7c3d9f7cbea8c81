"""Bash: off unless the deployment enables it; then confined by cwd, time and output.

`run_confined` is the one way legato runs a shell command: the Bash tool uses it, and
so do workflow command quality gates, under the same setting and limits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from agents.tools.base import Tool, ToolContext, ToolError, arg_str, schema

SHELL_OFF = "shell execution is disabled on this deployment (TOOLS_ALLOW_SHELL)"


@dataclass(frozen=True)
class Ran:
    exit_code: int | None  # None when the command was stopped (timeout, output limit)
    output: bytes  # stdout and stderr together, at most the limit
    timed_out: bool = False
    overflow: bool = False


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_confined(
    command: str, cwd: Path, home: Path, timeout: float, limit: int | None = None
) -> Ran:
    """Run ``bash -c command`` in ``cwd`` with only PATH and HOME set, in a session of its
    own so that stopping it (after ``timeout`` seconds, or once its output passes
    ``limit`` bytes) kills the whole process group."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
    )
    chunks: list[bytes] = []
    state = {"size": 0, "overflow": False}

    def read() -> None:
        assert proc.stdout is not None
        while data := proc.stdout.read1(65536):
            if limit is not None and state["size"] + len(data) > limit:
                chunks.append(data[: limit - state["size"]])
                state["overflow"] = True
                _kill(proc)
                return
            chunks.append(data)
            state["size"] += len(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        proc.wait()
    reader.join()
    if proc.stdout is not None:
        proc.stdout.close()
    stopped = timed_out or state["overflow"]
    return Ran(None if stopped else proc.returncode, b"".join(chunks), timed_out, state["overflow"])


def _bash(ctx: ToolContext, args: dict) -> str:
    if not ctx.limits.allow_shell:
        raise ToolError(SHELL_OFF)
    command = arg_str(args, "command")
    ws = ctx.need_workspace()
    ran = run_confined(command, ws.root, ws.root, ctx.limits.shell_timeout)
    if ran.timed_out:
        raise ToolError(f"command timed out after {ctx.limits.shell_timeout:g}s")
    text = ran.output.decode(errors="replace")
    return f"{text}\n[exit code {ran.exit_code}]"


TOOLS = [
    Tool(
        "Bash",
        "Run a bash command in the job's workspace (if the deployment allows shell access).",
        schema(["command"], command={"type": "string"}),
        _bash,
    )
]
