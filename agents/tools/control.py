"""Tools that act on the job rather than on files: ask a human, spawn, delegate.

They only validate arguments; the worker's ToolHost does the database work.
"""

from __future__ import annotations

from agents.tools.base import Tool, ToolContext, ToolError, arg_str, schema


def _ask(ctx: ToolContext, args: dict) -> str:
    question = arg_str(args, "question").strip()
    if not question:
        raise ToolError("question must not be empty")
    return ctx.need_host().ask_human(question)


def _spawn(ctx: ToolContext, args: dict) -> str:
    title = arg_str(args, "title").strip()
    instruction = arg_str(args, "instruction").strip()
    piece = arg_str(args, "piece", required=False) or None
    if not title or not instruction:
        raise ToolError("title and instruction must not be empty")
    return ctx.need_host().spawn_subtask(title, instruction, piece)


def _delegate(ctx: ToolContext, args: dict) -> str:
    agent = arg_str(args, "agent").strip()
    message = arg_str(args, "message").strip()
    mode = arg_str(args, "mode", required=False, default="sync")
    if mode not in ("sync", "async"):
        raise ToolError("mode must be 'sync' or 'async'")
    if not agent or not message:
        raise ToolError("agent and message must not be empty")
    return ctx.need_host().delegate(agent, message, mode)


TOOLS = [
    Tool(
        "ask_human",
        "Ask the job's user a question. The job pauses after this movement and resumes "
        "here with the answer in the user inputs.",
        schema(["question"], question={"type": "string"}),
        _ask,
    ),
    Tool(
        "spawn_subtask",
        "Start a child job. This movement re-runs once every child has ended; each "
        "child's result is then in subtasks/N/result.md.",
        schema(
            ["title", "instruction"],
            title={"type": "string"},
            instruction={"type": "string"},
            piece={"type": "string", "description": "piece name; default: the default piece"},
        ),
        _spawn,
    ),
    Tool(
        "delegate_to_agent",
        "Hand a message to a registered agent. mode=sync returns its reply; mode=async "
        "starts it as a subtask job and returns the job id.",
        schema(
            ["agent", "message"],
            agent={"type": "string"},
            message={"type": "string"},
            mode={"type": "string", "enum": ["sync", "async"]},
        ),
        _delegate,
    ),
]
