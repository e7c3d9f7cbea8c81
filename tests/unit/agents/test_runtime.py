"""The tool loop against the fake LLM server over HTTP (no database, no worker)."""

from __future__ import annotations

import pytest

from agents.runtime import LIMIT_NOTE, Toolbox, TurnCancelled, run_turn
from agents.tools import ToolContext
from agents.workspace import Workspace
from tests.fakellm import text, tool_call, tool_calls


@pytest.fixture
def box(tmp_path) -> Toolbox:
    traces = []
    tb = Toolbox(
        allowed=["Read", "Write"],
        context=ToolContext(workspace=Workspace.open(tmp_path / "ws", git=False)),
        max_calls=3,
        on_trace=traces.append,
    )
    tb.traces = traces  # type: ignore[attr-defined]
    return tb


def test_each_call_is_answered_in_order_with_its_id(fake, client, profile, box):
    fake.script(
        tool_calls(
            ("Write", {"path": "a.txt", "content": "A"}, "w1"),
            ("Read", {"path": "a.txt"}, "r1"),
        ),
        text("done"),
    )
    turn = run_turn(client, profile, "go", system="sys", toolbox=box)

    assert (turn.content, turn.tool_calls, turn.llm_calls) == ("done", 2, 2)
    assert (turn.tokens_in, turn.tokens_out) == (20, 10)
    second = fake.chat_requests[1].messages
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool", "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in second[3:]] == [
        ("w1", "wrote 1 bytes to a.txt"),
        ("r1", "A"),
    ]
    assert [t.tool for t in box.traces] == ["Write", "Read"]


def test_limit_answers_every_pending_call_then_asks_without_tools(fake, client, profile, box):
    fake.script(
        tool_calls(*[("Read", {"path": "x"}, f"c{i}") for i in range(5)]),
        text("final"),
    )
    turn = run_turn(client, profile, "go", toolbox=box)

    assert turn.content == "final" and turn.tool_calls == 3
    last = fake.chat_requests[-1]
    assert last.tools is None and last.last_user_message == LIMIT_NOTE
    tool_replies = [m["content"] for m in last.messages if m["role"] == "tool"]
    assert len(tool_replies) == 5 and tool_replies[3].startswith("Error: tool-call limit")


def test_no_tools_offered_when_none_allowed_or_limit_zero(fake, client, profile, box):
    fake.script(tool_call("Read", {"path": "x"}), text("plain"))
    box.max_calls = 0
    turn = run_turn(client, profile, "go", toolbox=box)
    assert fake.chat_requests[0].tools is None
    assert turn.tool_calls == 0  # a tool call nobody offered is ignored


def test_should_stop_cancels_between_calls(fake, client, profile, box):
    fake.script(tool_calls(("Read", {"path": "x"}), ("Read", {"path": "y"})), text("never"))
    box.should_stop = lambda: len(box.traces) >= 1
    with pytest.raises(TurnCancelled):
        run_turn(client, profile, "go", toolbox=box)
    assert len(box.traces) == 1 and len(fake.chat_requests) == 1


def test_history_goes_between_system_and_prompt(fake, client, profile):
    fake.script(text("hi"))
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    run_turn(client, profile, "c", system="s", history=history)
    assert [m["content"] for m in fake.chat_requests[0].messages] == ["s", "a", "b", "c"]
