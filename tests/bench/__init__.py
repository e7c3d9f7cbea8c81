"""`make bench`: legato's throughput and overhead against a raw Celery chain.

Everything is real except the LLM: a throwaway PostgreSQL database, Redis under a
unique key prefix, `legato worker` subprocesses, and the fake OpenAI-compatible server
from `tests.fakellm` in its own process. Figures are ratios against a baseline
measured in the same run; there are no pass/fail thresholds, but any failed job
makes the run exit non-zero.

    .venv/bin/python -m tests.bench        # what `make bench` runs

Environment knobs: BENCH_JOBS (200), BENCH_CONCURRENCY (16), BENCH_SLOW_JOBS (1000),
BENCH_SLOW_CONCURRENCY (200), BENCH_SLOW_LATENCY (1.0 s), BENCH_SUBMIT_THREADS (4),
TEST_PG_ADMIN_URL, TEST_REDIS_URL (as for the tests), BENCH_KEEP_LOGS=1.
"""
