"""`python -m tests.bench`: see tests/bench/__init__.py for what this measures."""

from __future__ import annotations

import os
import sys
import time
import traceback
from contextlib import ExitStack

from tests.bench.common import BenchFailure
from tests.bench.harness import Bench
from tests.bench.report import DEFINITIONS, say

SCENARIOS = ("1", "2", "3", "validation")


def chosen() -> list[str]:
    """BENCH_SCENARIOS=1,3 (or `python -m tests.bench 1 3`): which to run; all by default."""
    raw = " ".join(sys.argv[1:]) or os.environ.get("BENCH_SCENARIOS", "")
    wanted = [s.strip() for s in raw.replace(",", " ").split() if s.strip()]
    wanted = [{"v": "validation"}.get(s, s) for s in wanted] or list(SCENARIOS)
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        raise BenchFailure(f"unknown scenario(s) {unknown}; choose among {', '.join(SCENARIOS)}")
    return [s for s in SCENARIOS if s in wanted]


def run(bench: Bench, scenarios: list[str]) -> None:
    from tests.bench.scenario1 import print_ratios, scenario1_legato, scenario1_raw
    from tests.bench.scenario2 import scenario2
    from tests.bench.scenario3 import scenario3
    from tests.bench.validation import validation

    if "1" in scenarios:
        say(DEFINITIONS)
        legato = scenario1_legato(bench)
        raw = scenario1_raw(bench)
        print_ratios(legato, raw)
    if "2" in scenarios:
        scenario2(bench)
    if "3" in scenarios:
        scenario3(bench)
    if "validation" in scenarios:
        validation(bench)


def main() -> int:
    started = time.monotonic()
    say("legato benchmark: real PostgreSQL, Redis and Celery workers; only the LLM is fake")
    with ExitStack() as stack:
        bench = None
        try:
            scenarios = chosen()
            say(f"scenarios: {', '.join(scenarios)}")
            bench = Bench(stack)
            stack.callback(bench.close)
            bench.setup()
            run(bench, scenarios)
        except BenchFailure as exc:
            say(f"make bench: FAILED: {exc}")
            if bench is not None:
                bench.keep_tmp = True
            return 1
        except KeyboardInterrupt:
            say("make bench: interrupted")
            return 130
        except Exception:
            say(f"make bench: FAILED with an unexpected error:\n{traceback.format_exc()}")
            if bench is not None:
                bench.keep_tmp = True
            return 1
    say(f"make bench: done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
