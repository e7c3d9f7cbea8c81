"""Child processes of `make bench` (workers, the fake LLM) with their logs and health."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.bench.common import ROOT, TASK_RAISED, BenchFailure


class Proc:
    """A child process whose output goes to a log file; ready when `marker` shows up."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen | None = None
        self._scanned = 0
        self._next_scan = 0.0

    def start(self, marker: bytes, timeout: float = 90.0) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while marker not in self.log_path.read_bytes():
            if self.process.poll() is not None:
                raise BenchFailure(f"{self.name} exited early:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise BenchFailure(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Fail if the process died or its log shows a task that raised (checked ~2/s)."""
        if self.process is not None and self.process.poll() is not None:
            raise BenchFailure(f"{self.name} died (exit {self.process.returncode}):\n{self.tail()}")
        now = time.monotonic()
        if now < self._next_scan:
            return
        self._next_scan = now + 0.5
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._scanned)
                chunk = f.read()
        except OSError:
            return
        # Only whole lines: a line still being written is scanned next time.
        chunk = chunk[: chunk.rfind(b"\n") + 1]
        self._scanned += len(chunk)
        if TASK_RAISED in chunk:
            line = next(ln for ln in chunk.splitlines() if TASK_RAISED in ln)
            raise BenchFailure(
                f"{self.name}: a task raised: {line.decode(errors='replace')[:300]}\n{self.tail()}"
            )

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    | " + ln for ln in text.splitlines()[-lines:])
