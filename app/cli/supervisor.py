"""`legato run`: the whole stack as child processes of one command.

Children share this process group's terminal; Ctrl-C (or SIGTERM) stops them all,
politely first. If any child dies, the rest are stopped too: a half-running
embedded stack would only confuse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

GRACE_SECONDS = 15.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None


def legato_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli.main", *args]


def supervise(children: list[Child], env: dict[str, str] | None = None) -> int:
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            # Own process group: the terminal's Ctrl-C reaches us, and we stop children in order.
            child.process = subprocess.Popen(child.argv, env=env, start_new_session=True)
        exit_code = 0
        while not stopping:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    print(
                        f"legato: {child.name} exited with status {code}; stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.2)
        _terminate(children)
        return exit_code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _terminate(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process and child.process.poll() is None:
            _signal_group(child.process, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child.process, signal.SIGKILL)
            child.process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
