"""Fixtures for the agent and tool tests: a worker with tool settings, and test pieces.

The worker consumes only the `idle` tier (which the session worker leaves alone) and
the dedicated agent queue of `solo` (SOLO_QUEUE), so the settings below apply to every job and
agent task these tests send there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm.specs import agent_queue
from tests.conftest import IDLE_TIER, WorkerProcess

TOOL_ENV = {
    "TOOLS_ALLOW_SHELL": "true",
    "SHELL_TIMEOUT": "1",
    "TOOL_OUTPUT_CAP": "2000",
    "MAX_TOOL_CALLS": "6",
    "WEBFETCH_ALLOW": "127.0.0.1",
    "SUBTASK_MAX_PER_PARENT": "2",
    "SUBTASK_MAX_DEPTH": "1",
    "CALLBACK_ALLOW_HOSTS": "127.0.0.1",
    "CALLBACK_SECRET": "test-callback-secret",
    "CALLBACK_MAX_ATTEMPTS": "3",
}
SOLO_QUEUE = agent_queue("solo", owner="local")
AGENT_QUEUES = f"{IDLE_TIER},{SOLO_QUEUE}"

PIECES = {
    "tools-all": """
name: tools-all
initial_movement: work
movements:
  - name: work
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
    allowed_tools: [Read, Write, Edit, Glob, Grep, Bash, WebFetch]
""",
    "tools-read": """
name: tools-read
initial_movement: look
movements:
  - name: look
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
    allowed_tools: [Read]
""",
    "tools-stash": """
name: tools-stash
initial_movement: stash
movements:
  - name: stash
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
    allowed_tools: [Write]
""",
    "tools-plain": """
name: tools-plain
initial_movement: answer
movements:
  - name: answer
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
""",
    "tools-model": """
name: tools-model
initial_movement: pick
movements:
  - name: pick
    model: no-such-model
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
""",
    "tools-ask": """
name: tools-ask
initial_movement: clarify
movements:
  - name: clarify
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
    allowed_tools: [ask_human, Write]
""",
    "tools-spawn": """
name: tools-spawn
initial_movement: split
movements:
  - name: split
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
    allowed_tools: [spawn_subtask, Read, delegate_to_agent]
""",
    "tools-agent": """
name: tools-agent
initial_movement: delegate
movements:
  - name: delegate
    agent: solo
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
""",
    "tools-ghost": """
name: tools-ghost
initial_movement: haunt
movements:
  - name: haunt
    agent: ghost
    instruction: "{task}"
    rules: [{condition: Done, next: COMPLETE}]
""",
}


@pytest.fixture(scope="module")
def tool_pieces(stack_env) -> Path:
    """The test pieces, in the `local` owner's own piece folder."""
    folder = Path(stack_env["LEGATO_DATA_DIR"]) / "users" / "local" / "pieces"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in PIECES.items():
        (folder / f"{name}.yaml").write_text(text.lstrip())
    return folder


@pytest.fixture(scope="module")
def agent_worker(stack_env, tool_pieces, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("agent-worker") / "worker.log"
    proc = WorkerProcess({**stack_env, **TOOL_ENV}, log_path, queues=AGENT_QUEUES).start()
    yield proc
    proc.stop()


def workspace(stack_env, job_id: str) -> Path:
    return Path(stack_env["LEGATO_DATA_DIR"]) / "workspaces" / job_id
