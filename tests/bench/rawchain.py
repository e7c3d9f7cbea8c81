"""The baseline for `make bench`: a raw Celery chain of three tasks, no legato at all.

Each task makes the same HTTP call a legato movement makes (one OpenAI-style
`POST /v1/chat/completions` to the fake LLM over a pooled `requests.Session`) and
passes a small timing record down the chain; the last task pushes that record to a
Redis list, which is how the benchmark learns the chain ended (there is no result
backend, as in legato). Delivery settings match legato's (`acks_late`,
`reject_on_worker_lost`, prefetch multiplier 1, JSON); Flower task events are off.

The worker is started by the benchmark as its own process:

    celery -A tests.bench.rawchain worker -P threads -c 16 -Q bench-raw

configured by the environment: BENCH_RAW_BROKER_URL, BENCH_RAW_KEY_PREFIX,
BENCH_RAW_LLM_URL (OpenAI base URL), BENCH_RAW_RESULTS_KEY; BENCH_RAW_EVENTS=1 turns on
the task events legato sends for Flower, to measure what they cost on their own.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import time
import traceback
from typing import Any

import redis
import requests
from celery import Celery, chain
from requests.adapters import HTTPAdapter

QUEUE = "bench-raw"
STEP = "bench.raw_step"
MODEL = "fake-model"
PERSONA = "You are a terse benchmark agent. Answer in one line."


def make_app(broker_url: str, key_prefix: str, concurrency: int = 16) -> Celery:
    app = Celery("bench-raw", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options={"global_keyprefix": key_prefix},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=concurrency,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
    )
    if os.environ.get("BENCH_RAW_EVENTS") == "1":
        # legato's Flower settings (app/celery_config.py), to see what they cost alone.
        app.conf.update(worker_send_task_events=True, task_send_sent_event=True)
    return app


def _session() -> requests.Session:
    # Pooled like legato's LLMClient: one session per process, shared by the threads.
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=256, max_retries=0)
    session.mount("http://", adapter)
    return session


def register(app: Celery, llm_url: str | None, results_key: str | None, redis_url: str | None):
    """Define the step task on `app` (the worker passes real values; a producer None)."""
    session = _session() if llm_url else None
    results = redis.Redis.from_url(redis_url) if redis_url else None

    @app.task(name=STEP, bind=True)
    def step(self, state: dict[str, Any], index: int, last: int) -> dict[str, Any]:
        started = time.time()
        try:
            body = {
                "model": MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": f"{PERSONA}\n\nStep {index} of {last}. Task: {state['task']}",
                    }
                ],
            }
            resp = session.post(
                llm_url.rstrip("/") + "/chat/completions",
                data=json.dumps(body),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "X-Legato-Run": f"{state['id']}:{index}",
                    "X-Legato-Movement": f"step{index}",
                },
                timeout=(10, 120),
            )
            resp.raise_for_status()
            content = resp.json()["choices"][0]["message"]["content"]
            if "" not in content:
                raise ValueError(f"unexpected reply {content[:80]!r}")
        except Exception:
            state["error"] = f"step {index}: {traceback.format_exc(limit=3)}"
            results.rpush(results_key, json.dumps(state))
            raise
        state["steps"].append([started, time.time()])
        if index == last:
            results.rpush(results_key, json.dumps(state))
        return state

    return step


def send_chain(step, chain_id: str, task: str, length: int = 3) -> float:
    """Publish one chain of `length` steps; returns the time.time() it was handed over."""
    submitted = time.time()
    state = {"id": chain_id, "task": task, "submitted": submitted, "steps": []}
    sigs = [step.s(state, 1, length)] + [step.s(i, length) for i in range(2, length + 1)]
    chain(*sigs).apply_async(queue=QUEUE)
    return submitted


def _from_env() -> Celery:
    env = os.environ
    app = make_app(env["BENCH_RAW_BROKER_URL"], env["BENCH_RAW_KEY_PREFIX"])
    register(
        app, env["BENCH_RAW_LLM_URL"], env["BENCH_RAW_RESULTS_KEY"], env["BENCH_RAW_BROKER_URL"]
    )
    return app


# `celery -A tests.bench.rawchain worker` looks for `app`; importing this module for
# producing (no BENCH_RAW_* environment) defines nothing.
if "BENCH_RAW_BROKER_URL" in os.environ and "BENCH_RAW_LLM_URL" in os.environ:
    app = _from_env()
