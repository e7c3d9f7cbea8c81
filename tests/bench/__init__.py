"""`make bench`: legato's throughput and overhead against a raw Celery chain.

Everything is real except the LLM: a throwaway PostgreSQL database, Redis under a
unique key prefix, `legato worker` subprocesses, and the fake OpenAI-compatible server
from `tests.fakellm` in its own process (`tests/bench/fakeserver.py`). Figures are
ratios against a baseline measured in the same run; there are no pass/fail
thresholds, but any failed job makes the run exit non-zero.

Scenario 1: the 3-movement piece `pieces/bench-linear.yaml` (this folder is the piece
library PIECES_PATH points at) against a zero-latency fake, one worker with a thread
pool; first under load (as many jobs open as the worker has threads), then one job
at a time; then the same for a raw Celery chain of three tasks (`rawchain.py`), and
the ratios. Scenario 2: 1 s of LLM latency, 1,000 single-movement jobs queued before a
high-concurrency worker starts; achieved in-flight LLM calls against its concurrency.

    .venv/bin/python -m tests.bench        # what `make bench` runs

Knobs (environment): BENCH_JOBS (200), BENCH_CONCURRENCY (16), BENCH_OPEN_JOBS (=
concurrency), BENCH_SERIAL_JOBS (50), BENCH_SUBMIT_THREADS (4), BENCH_SLOW_JOBS (1000),
BENCH_SLOW_CONCURRENCY (200, lowered to what PostgreSQL's max_connections allows),
BENCH_SLOW_LATENCY (1.0 s), BENCH_KEEP_LOGS=1 (keep worker logs), BENCH_PYSPY=1
(profile the workers with py-spy if it is installed; not a dependency),
BENCH_RAW_EVENTS=1 (give the raw baseline legato's Flower task events), and
TEST_PG_ADMIN_URL / TEST_REDIS_URL as for the tests.
"""
