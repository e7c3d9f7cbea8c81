"""Where a worker's CPU goes: py-spy sampling of a running worker, summarised.

`profiled(bench, proc, name)` attaches `py-spy record --pid` (a dev dependency) to the
worker for the length of a `with` block, sampling only the thread holding the GIL
(`--gil`: CPU spent in Python, not threads waiting on sockets), and prints:

- the top functions by own time (the frame running at the sample) and by total time
  (on the stack at all), each function counted once per sample; line numbers dropped;
- the same top list restricted to legato's own code (app/, tasks/, agents/, pieces/);
- the samples grouped by legato code path below Celery's `trace_task`, and by library.

The folded stacks are kept next to the logs (any flame graph tool reads them). When
py-spy cannot attach (no ptrace permission in the container: add CAP_SYS_PTRACE), the
output says so and the benchmark goes on without a profile. BENCH_PYSPY=0 skips it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.procs import Proc
from tests.bench.report import say

if TYPE_CHECKING:
    from tests.bench.harness import Bench

PYSPY_RATE = 250  # samples per second
OWN_PREFIXES = ("app/", "tasks/", "agents/", "pieces/")


def pyspy_path() -> str | None:
    path = Path(sys.executable).parent / "py-spy"
    return str(path) if path.exists() else None


@contextmanager
def profiled(bench: Bench, proc: Proc, name: str):
    """Sample `proc` with py-spy during the block, then print the summary."""
    spy = pyspy_path()
    if os.environ.get("BENCH_PYSPY", "1") == "0":
        yield
        return
    if spy is None:
        say("  profile: py-spy is not installed (it is in the dev extras: make venv)")
        yield
        return
    out = bench.tmp / f"{name}.folded"
    err = bench.tmp / f"{name}.py-spy.log"
    with open(err, "wb") as log:
        rec = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(proc.process.pid),
                "--rate",
                str(PYSPY_RATE),
                "--format",
                "raw",
                "--output",
                str(out),
                "--gil",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    time.sleep(1.0)  # py-spy attaches
    if rec.poll() is not None:
        reason = err.read_text(errors="replace").strip().splitlines()[:2]
        say(
            f"  profile: py-spy could not attach to pid {proc.process.pid} ({' '.join(reason)}); "
            "no profile (a container needs CAP_SYS_PTRACE for py-spy record --pid)"
        )
        yield
        return
    say(f"  profile: py-spy record --pid {proc.process.pid} --gil at {PYSPY_RATE}/s (attached)")
    started = time.monotonic()
    try:
        yield
    finally:
        seconds = time.monotonic() - started
        rec.send_signal(signal.SIGINT)
        try:
            rec.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()
        bench.keep_tmp = True
        say(f"  profile: folded stacks of {proc.name} in {out}")
        summarise(read_folded(out), seconds)


def read_folded(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw format: one `frame;frame;... count` line per distinct stack."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    stacks = []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def function(frame: str) -> str:
    """ "func (path/file.py:123)" -> "func (path/file.py)": one entry per function."""
    head, sep, where = frame.rpartition(":")
    return f"{head})" if sep and where.rstrip(")").isdigit() else frame


def top_functions(
    stacks: list[tuple[list[str], int]], own_only: bool = False
) -> tuple[dict[str, int], dict[str, int]]:
    """(own samples, total samples) per function; `own_only` keeps legato's frames."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    for frames, n in stacks:
        names = [function(f) for f in frames]
        if own_only:
            names = [f for f in names if _path(f).startswith(OWN_PREFIXES)]
            if not names:
                continue
        own[names[-1]] = own.get(names[-1], 0) + n
        for name in set(names):
            total[name] = total.get(name, 0) + n
    return own, total


def _path(name: str) -> str:
    return name.rpartition(" (")[2].rstrip(")")


def summarise(stacks: list[tuple[list[str], int]], seconds: float, top: int = 10) -> None:
    samples = sum(n for _, n in stacks)
    if not samples:
        say("  profile: no samples recorded")
        return
    say(
        f"  profile: {samples} samples with the GIL held in {seconds:.1f} s at {PYSPY_RATE}/s "
        f"(GIL busy ~{samples / (seconds * PYSPY_RATE):.0%}; sampling slows the worker down)"
    )
    own, _ = top_functions(stacks)
    say(f"  profile: top {top} functions by own time (% of samples with the GIL held):")
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        say(f"    {n / samples:6.1%}  {name}")
    _, own_total = top_functions(stacks, own_only=True)
    say(f"  profile: top {top} of legato's own functions by total time (callees included):")
    for name, n in sorted(own_total.items(), key=lambda kv: -kv[1])[:top]:
        say(f"    {n / samples:6.1%}  {name}")
    _by_path(stacks, samples)


OWN_CODE = ("app/", "tasks/", "agents/", "pieces/", "tests/bench/")
WRAPPERS = ("FlaskTask.__call__", "__protected_call__")


def _frame(frame: str) -> tuple[str, str]:
    """py-spy's "function (path/file.py:line)" -> (function, path)."""
    func, _, where = frame.partition(" (")
    return func, where.rsplit(":", 1)[0]


def classify(stack: list[str]) -> tuple[str, str]:
    """(where in the worker, library doing the work) for one sampled stack."""
    _, path = _frame(stack[-1])
    library = path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")
    try:
        start = next(i for i, f in enumerate(stack) if _frame(f)[0].endswith("trace_task"))
    except StopIteration:
        return "Celery consumer loop (outside tasks)", library
    own = [
        _frame(f)[0]
        for f in stack[start + 1 :]
        if _frame(f)[1].startswith(OWN_CODE) and not _frame(f)[0].endswith(WRAPPERS)
    ]
    if not own:
        return "Celery task machinery around the task body", library
    return "task: " + " > ".join(own[:3]), library


def _by_path(stacks: list[tuple[list[str], int]], samples: int, top: int = 12) -> None:
    """The samples by legato code path below Celery's trace_task, and by library."""
    places: dict[str, int] = {}
    libraries: dict[str, int] = {}
    for frames, n in stacks:
        place, library = classify(frames)
        places[place] = places.get(place, 0) + n
        libraries[library] = libraries.get(library, 0) + n
    say("  profile: by code path (own frames below Celery's trace_task):")
    for key, n in sorted(places.items(), key=lambda kv: -kv[1])[:top]:
        say(f"    {n / samples:6.1%}  {key}")
    say(
        "  profile: by library running at the sample: "
        + ", ".join(
            f"{k} {n / samples:.0%}"
            for k, n in sorted(libraries.items(), key=lambda kv: -kv[1])[:8]
        )
    )
