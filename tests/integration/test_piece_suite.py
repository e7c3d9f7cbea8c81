"""Every piece-suite scenario, end to end on a real worker, the fake model scripted per phase.

The fake LLM answers each call as tests/piece_suite/scripted.py says for its movement,
visit and phase (the X-Legato-Movement, X-Legato-Run and X-Legato-Kind headers), and the
job must take exactly the path the pure walk takes: the same movements, the same way of
finding each rule, the same model calls per phase, the same reports, the same end.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.helpers import submit, wait_for_status
from tests.piece_suite.scenarios import SCENARIOS
from tests.piece_suite.scripted import ScriptedModel

pytestmark = pytest.mark.integration


def script(llm, scenario) -> None:
    model = ScriptedModel(scenario.script)
    llm.respond_with(
        lambda rec: (
            model.reply(rec.movement or "", rec.run or "", rec.kind or "") if rec.kind else None
        )
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(client, worker, llm, scenario):
    script(llm, scenario)
    # One attempt: the scenarios are about routing; an abort would otherwise be retried.
    job = submit(
        client,
        piece=scenario.piece,
        instruction=f"scenario {scenario.id}",
        max_attempts=1,
        interactive=scenario.interactive,
    )
    for n in range(scenario.inputs):
        wait_for_status(client, job["id"], "waiting_human")
        resp = client.post(f"/api/jobs/{job['id']}/inputs", json={"text": f"user input {n + 1}"})
        assert resp.status_code == 201, resp.get_json()
    done = wait_for_status(client, job["id"])

    top = [r for r in done["runs"] if r["parent_run_id"] is None]
    assert [r["name"] for r in top] == scenario.path
    if scenario.end == "COMPLETE":
        assert done["status"] == "succeeded", done["abort_reason"]
        assert done["result"] == top[-1]["output"]
    else:
        assert done["status"] == "failed"
        assert f"ABORT: {done['abort_reason']}" == scenario.end
    assert [r["match_method"] for r in top] == scenario.methods
    subs: dict[str, list[str | None]] = {}
    for r in done["runs"]:
        if r["parent_run_id"] is not None:
            subs.setdefault(r["name"], []).append(r["match_method"])
    if scenario.sub_methods:
        assert subs == scenario.sub_methods
    calls = Counter(r.kind for r in llm.chat_requests if r.job == job["id"])
    assert dict(calls) == scenario.calls
    reports = client.get(f"/api/jobs/{job['id']}/reports").get_json()["items"]
    assert sorted(r["name"] for r in reports) == sorted(scenario.reports)
    # The phases the API shows are the calls the model saw, run by run.
    assert sum(len(r["phases"]) for r in done["runs"]) == sum(scenario.calls.values())
