"""The embedded stack as child processes of one command (`legato run`, `legato demo`).

Each child gets its own session so the terminal's Ctrl-C reaches only us; we then
stop the children in reverse order, politely first. If any child dies the rest
are stopped too: a half-running embedded stack would only confuse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

GRACE_SECONDS = 15.0


def legato_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


@dataclass
class Stack:
    children: dict[str, list[str]]
    env: dict[str, str] | None = None
    stdout: int | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self) -> Stack:
        for name, argv in self.children.items():
            self.processes[name] = subprocess.Popen(
                argv,
                env=self.env,
                start_new_session=True,
                stdout=self.stdout,
                stderr=subprocess.STDOUT if self.stdout is not None else None,
            )
        return self

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


def supervise(stack: Stack) -> int:
    """Run the stack until Ctrl-C, SIGTERM, or a child's exit; return an exit status."""
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        stack.start()
        while not stopping:
            ended = stack.exited()
            if ended:
                name, code = ended
                print(
                    f"legato: {name} exited with status {code}; stopping",
                    file=sys.stderr,
                    flush=True,
                )
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
