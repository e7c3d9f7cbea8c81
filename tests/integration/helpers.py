"""Small helpers for integration tests that drive the real API."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_until

TERMINAL = {"succeeded", "failed", "cancelled"}


def submit(client, expect: int = 201, **body: Any) -> dict:
    body.setdefault("instruction", "write a haiku about queues")
    resp = client.post("/api/jobs", json=body)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def get_job(client, job_id: str) -> dict:
    resp = client.get(f"/api/jobs/{job_id}")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def wait_for_status(client, job_id: str, statuses=TERMINAL, timeout: float = 60.0) -> dict:
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)

    def reached():
        job = get_job(client, job_id)
        return job if job["status"] in statuses else None

    return wait_until(
        reached, timeout=timeout, interval=0.1, message=f"job {job_id} to reach {sorted(statuses)}"
    )


def events(client, job_id: str) -> list[dict]:
    resp = client.get(f"/api/jobs/{job_id}/events")
    assert resp.status_code == 200
    return resp.get_json()["items"]


def movement(name: str):
    """A fake-LLM predicate matching Phase 1 requests made for exactly this movement."""
    return lambda record: record.movement == name and record.kind in (None, "execute")


def judgment(name: str, kind: str = "judge_structured"):
    """A fake-LLM predicate matching one Phase 3 stage of this movement."""
    return lambda record: record.movement == name and record.kind == kind


def structured_step(number: int):
    """The structured Phase 3 answer choosing rule `number` (1-based)."""
    import json

    from tests.fakellm import text

    return text(json.dumps({"step": number, "reason": "scripted"}))


def ask_for_the_format(llm) -> None:
    """user-inputs: `ask` is judged to need the user's input (rule 2, offered to
    interactive jobs), and once the input is there, to go on (rule 1)."""
    llm.when(judgment("ask"), structured_step(2), structured_step(1))
