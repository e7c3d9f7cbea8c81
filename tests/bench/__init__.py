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
the ratios, worker and PostgreSQL CPU per movement side by side; a py-spy profile of
an extra loaded legato run (profile.py). Scenario 2: 1 s of LLM latency, 1,000
single-movement jobs queued before a 200-thread worker starts. Scenario 3: 2,000 jobs
of 5 s for one worker process of concurrency 500, thread pool against gevent pool.
Then the validation figure (validation.py). Modules: common (knobs), procs, cpu,
harness (services, workers), jobs (submit and wait), profile, backlog (scenarios 2 and
3), scenario1..3, validation, report.

    .venv/bin/python -m tests.bench        # what `make bench` runs
    BENCH_SCENARIOS=1,3 .venv/bin/python -m tests.bench   # or: python -m tests.bench 1 3

Knobs (environment): BENCH_SCENARIOS (1,2,3,validation), BENCH_JOBS (200),
BENCH_CONCURRENCY (16), BENCH_OPEN_JOBS (= concurrency), BENCH_SERIAL_JOBS (50),
BENCH_SUBMIT_THREADS (4), BENCH_PROFILE_JOBS (jobs/2; 0 = no profiled run), BENCH_PYSPY=0
(no profile), BENCH_SLOW_JOBS (1000), BENCH_SLOW_CONCURRENCY (200), BENCH_SLOW_LATENCY
(1.0 s), BENCH_S3_JOBS (2000), BENCH_S3_CONCURRENCY (500), BENCH_S3_LATENCY (5.0 s),
BENCH_S3_POOLS (threads,gevent), BENCH_KEEP_LOGS=1 (keep worker logs), BENCH_RAW_EVENTS=1
(give the raw baseline Celery task events), and TEST_PG_ADMIN_URL / TEST_REDIS_URL as
for the tests.
"""
