"""The embedded stack as child processes of one command (`legato run`, `legato demo`).

Each child gets its own session so the terminal's Ctrl-C reaches only us; we then
stop the children in reverse order, politely first. A child killed from outside (a
worker SIGKILLed mid-movement, say), or one that fails after it had been up a while, is
started again, as a process manager would: its unfinished work is recovered by the
leases (README "Reliability"). A child that fails on its own right after it started,
or keeps dying, stops the whole stack: a half-running embedded stack would only confuse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GRACE_SECONDS = 15.0
# A child killed by a signal, or one that lived at least this long before it failed,
# is restarted, at most MAX_RESTARTS times per child.
STABLE_SECONDS = 10.0
MAX_RESTARTS = 5


def legato_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


@dataclass
class Stack:
    children: dict[str, list[str]]
    env: dict[str, str] | None = None
    stdout: int | None = None
    # Per-child log files (appended to); a child without one writes to `stdout`.
    logs: dict[str, Path] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    def start(self) -> Stack:
        for name in self.children:
            self.start_child(name)
        return self

    def start_child(self, name: str) -> None:
        out = self.stdout
        log_file = None
        if name in self.logs:
            self.logs[name].parent.mkdir(parents=True, exist_ok=True)
            log_file = open(self.logs[name], "ab")  # noqa: SIM115 - the child's lifetime
            out = log_file.fileno()
        self.processes[name] = subprocess.Popen(
            self.children[name],
            env=self.env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
        )
        self.started_at[name] = time.monotonic()
        if log_file is not None:
            log_file.close()  # the child holds its own descriptor

    def may_restart(self, name: str, code: int) -> bool:
        """Killed from outside (a signal), or failed after it had been up a while: yes,
        a few times. Failing on its own right after it started (bad settings): no."""
        lived = time.monotonic() - self.started_at.get(name, time.monotonic())
        killed = code < 0
        return (killed or lived >= STABLE_SECONDS) and self.restarts.get(name, 0) < MAX_RESTARTS

    def exited(self) -> tuple[str, int] | None:
        """The first child that has exited, with its status, if any."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def supervise(stack: Stack, on_started: Callable[[Stack], None] | None = None) -> int:
    """Run the stack until Ctrl-C, SIGTERM, or a child's exit; return an exit status.

    `on_started` runs once the children are started (e.g. to wait until the API
    answers and say where it is)."""
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        stack.start()
        if on_started is not None:
            on_started(stack)
        while not stopping:
            ended = stack.exited()
            if ended and stack.may_restart(*ended):
                name, code = ended
                stack.restarts[name] = stack.restarts.get(name, 0) + 1
                print(
                    f"legato: {name} exited with status {code}; starting it again "
                    f"(restart {stack.restarts[name]} of {MAX_RESTARTS})",
                    file=sys.stderr,
                    flush=True,
                )
                stack.start_child(name)
                continue
            if ended:
                name, code = ended
                where = f" (log: {stack.logs[name]})" if name in stack.logs else ""
                print(
                    f"legato: {name} exited with status {code}; stopping{where}",
                    file=sys.stderr,
                    flush=True,
                )
                if name in stack.logs:
                    print(tail(stack.logs[name]), file=sys.stderr, flush=True)
                exit_code = code or 1
                break
            time.sleep(0.2)
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
