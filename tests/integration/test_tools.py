# ruff: noqa: F811 - pytest fixtures imported from agentkit are used as parameters
"""Tool-using movements end to end: a real worker, the fake LLM scripting tool calls."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import IDLE_TIER, wait_until
from tests.fakellm import empty, text, tool_call, tool_calls
from tests.integration.agentkit import agent_worker, tool_pieces, workspace  # noqa: F401
from tests.integration.helpers import events, movement, submit, wait_for_status

pytestmark = pytest.mark.integration


def run(client, piece: str, instruction: str = "do the thing") -> dict:
    job = submit(client, piece=piece, tier=IDLE_TIER, instruction=instruction)
    return wait_for_status(client, job["id"])


def traces(client, job_id: str) -> list[dict]:
    resp = client.get(f"/api/jobs/{job_id}/traces")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def tool_messages(record) -> list[str]:
    return [m["content"] for m in record.messages if m.get("role") == "tool"]


def test_file_tools_work_in_the_workspace_and_are_traced(client, agent_worker, llm, stack_env):
    llm.when(
        movement("work"),
        tool_call("Write", {"path": "output/notes.md", "content": "alpha\nbeta\n"}),
        tool_call("Edit", {"path": "output/notes.md", "old_string": "beta", "new_string": "gamma"}),
        tool_calls(
            ("Read", {"path": "output/notes.md"}),
            ("Glob", {"pattern": "**/*.md"}),
            ("Grep", {"pattern": "gam+a"}),
        ),
        text("all done"),
    )

    job = run(client, "tools-all")

    assert job["status"] == "succeeded", job
    assert job["result"] == "all done"
    items = traces(client, job["id"])
    assert [(t["tool"], t["outcome"]) for t in items] == [
        ("Write", "ok"),
        ("Edit", "ok"),
        ("Read", "ok"),
        ("Glob", "ok"),
        ("Grep", "ok"),
    ]
    assert items[0]["input"] == {"path": "output/notes.md", "content": "alpha\nbeta\n"}
    assert items[2]["output"] == "alpha\ngamma"
    assert items[3]["output"] == "output/notes.md"
    assert items[4]["output"] == "output/notes.md:2:gamma"
    assert all(t["run_id"] == job["runs"][0]["id"] and t["movement"] == "work" for t in items)
    ws = workspace(stack_env, job["id"])
    assert (ws / "output" / "notes.md").read_text() == "alpha\ngamma\n"
    assert {"input", "output", "reports", "logs"} <= {p.name for p in ws.iterdir()}
    # the model saw each tool's result, keyed by its call id
    last = [r for r in llm.chat_requests if r.movement == "work"][-1]
    assert tool_messages(last)[2:] == ["alpha\ngamma", "output/notes.md", "output/notes.md:2:gamma"]
    assert {t["function"]["name"] for t in last.tools} == {
        "Read",
        "Write",
        "Edit",
        "Glob",
        "Grep",
        "Bash",
        "WebFetch",
    }
    # the movement's work is committed under its name and iteration (replay restores it)
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=ws, capture_output=True, text=True, check=True
    )
    assert log.stdout.splitlines() == ["work (iteration 1)"]
    kinds = [e["kind"] for e in events(client, job["id"])]
    assert kinds.count("tool_call") == 5
    # token usage per call is folded into the run and the job
    assert job["runs"][0]["tokens_in"] == 4 * 10 and job["tokens_in"] == 40


def test_paths_outside_the_workspace_are_refused(client, agent_worker, llm, stack_env):
    llm.when(
        movement("work"),
        tool_calls(
            ("Read", {"path": "../../../../etc/passwd"}),
            ("Read", {"path": "/etc/passwd"}),
            ("Write", {"path": "/tmp/legato-escape.txt", "content": "x"}),
        ),
        tool_call("Bash", {"command": "ln -s /etc escape"}),
        tool_calls(("Read", {"path": "escape/passwd"}), ("Glob", {"pattern": "escape/*"})),
        text("could not escape"),
    )

    job = run(client, "tools-all")

    assert job["status"] == "succeeded"
    items = traces(client, job["id"])
    outcomes = [(t["tool"], t["outcome"]) for t in items]
    assert outcomes == [
        ("Read", "error"),
        ("Read", "error"),
        ("Write", "error"),
        ("Bash", "ok"),
        ("Read", "error"),
        ("Glob", "ok"),
    ]
    assert "'..' is not allowed" in items[0]["error"]
    assert "outside the job's workspace" in items[1]["error"]
    assert "outside the job's workspace" in items[2]["error"]
    assert "outside the job's workspace" in items[4]["error"]
    assert items[5]["output"] == "(no matches)"
    assert items[0]["output"].startswith("Error: ")
    assert "root:" not in "".join(t["output"] for t in items)


def test_a_tool_that_is_not_allowed_is_refused_and_not_run(client, agent_worker, llm, stack_env):
    llm.when(
        movement("look"),
        tool_call("Write", {"path": "sneaky.txt", "content": "x"}),
        text("ok, read only"),
    )

    job = run(client, "tools-read")

    assert job["status"] == "succeeded"
    [trace] = traces(client, job["id"])
    assert (trace["tool"], trace["outcome"]) == ("Write", "refused")
    assert "not allowed" in trace["error"]
    assert not (workspace(stack_env, job["id"]) / "sneaky.txt").exists()
    first, second = [r for r in llm.chat_requests if r.movement == "look"]
    assert [t["function"]["name"] for t in first.tools] == ["Read"]
    assert "not allowed" in tool_messages(second)[0]


def test_max_tool_calls_stops_the_loop(client, agent_worker, llm):
    # The model never stops calling tools; MAX_TOOL_CALLS=6 in the agent worker.
    llm.when(lambda r: r.movement == "work" and r.tools is None, text("stopping"))
    llm.when(movement("work"), tool_call("Glob", {"pattern": "*"}))

    job = run(client, "tools-all")

    assert job["status"] == "succeeded", job
    assert len(traces(client, job["id"])) == 6
    calls = [r for r in llm.chat_requests if r.movement == "work"]
    assert len(calls) == 7
    assert calls[-1].tools is None  # the last request asks for an answer without tools
    assert "tool-call limit" in calls[-1].last_user_message


def test_bash_output_cap_and_timeout(client, agent_worker, llm):
    llm.when(
        movement("work"),
        tool_call("Bash", {"command": "yes x | head -c 10000 | tr -d '\\n'"}),
        tool_call("Bash", {"command": "sleep 30"}),
        text("done"),
    )

    job = run(client, "tools-all")

    assert job["status"] == "succeeded", job
    big, slow = traces(client, job["id"])
    assert big["outcome"] == "ok"
    assert "[output truncated:" in big["output"]
    assert big["output"].startswith("x" * 2000)
    assert slow["outcome"] == "error" and "timed out" in slow["error"]


def test_webfetch_reads_an_allow_listed_local_server(client, agent_worker, llm):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from the web"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/page"
        llm.when(
            movement("work"),
            tool_calls(
                ("WebFetch", {"url": url}), ("WebFetch", {"url": "http://169.254.169.254/"})
            ),
            text("fetched"),
        )
        job = run(client, "tools-all")
    finally:
        server.shutdown()

    ok, refused = traces(client, job["id"])
    assert ok["outcome"] == "ok" and "hello from the web" in ok["output"]
    assert refused["outcome"] == "error" and "not a public address" in refused["error"]


def test_cancel_stops_the_tool_loop_between_calls(client, agent_worker, llm):
    llm.when(movement("work"), tool_call("Bash", {"command": "sleep 0.3"}))
    job = submit(client, piece="tools-all", tier=IDLE_TIER)
    wait_until(lambda: traces(client, job["id"]), message="a first tool call")

    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    wait_for_status(client, job["id"], "cancelled")
    seen = len(traces(client, job["id"]))
    # the worker has stopped: after the next check no further tool call is made
    wait_until(
        lambda: (
            not any(e["kind"] == "movement_completed" for e in events(client, job["id"]))
            and len(traces(client, job["id"])) <= seen + 1
        ),
        message="the loop to stop",
    )
    assert len(traces(client, job["id"])) < 6


def test_empty_reply_is_retried_without_tools_and_shows_in_events(client, agent_worker, llm):
    llm.when(movement("work"), empty(), text("fine"))

    job = run(client, "tools-all")

    assert job["status"] == "succeeded"
    first, retry = [r for r in llm.chat_requests if r.movement == "work"]
    assert first.tools and retry.tools is None
    assert (first.attempt, retry.attempt) == (1, 2)
    retries = [e["data"] for e in events(client, job["id"]) if e["kind"] == "llm_retry"]
    assert [(e["attempt"], e["reason"]) for e in retries] == [(1, "empty content")]


@pytest.mark.parametrize("claimed", ["other-job", "/"])
def test_a_payload_workspace_is_user_data_and_never_the_jobs_folder(
    client, agent_worker, llm, stack_env, claimed
):
    # Job A leaves a file in its own workspace.
    llm.when(movement("stash"), tool_call("Write", {"path": "secret.txt", "content": "s3cret"}))
    a = run(client, "tools-stash", instruction="stash")
    assert a["status"] == "succeeded", a
    target = str(workspace(stack_env, a["id"])) if claimed == "other-job" else "/"
    # Job B names A's folder (or "/") as `payload.workspace` and reads from "there".
    llm.when(
        movement("look"),
        tool_calls(("Read", {"path": "secret.txt"}), ("Read", {"path": "etc/passwd"})),
        text("Nothing there."),
    )
    b = submit(
        client,
        piece="tools-read",
        tier=IDLE_TIER,
        instruction="peek",
        payload={"workspace": target},
    )
    done = wait_for_status(client, b["id"])
    assert done["status"] == "succeeded", done
    reads = [t for t in traces(client, b["id"]) if t["tool"] == "Read"]
    assert [t["outcome"] for t in reads] == ["error", "error"]
    assert all(
        "s3cret" not in (t["output"] or "") and "root:" not in (t["output"] or "") for t in reads
    )
    # B worked in its own folder under WORKSPACE_ROOT; the payload is kept as the user sent it.
    assert workspace(stack_env, b["id"]).is_dir()
    assert done["payload"] == {"workspace": target}
