"""What a tool is, and what it may see while it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.workspace import Workspace


class ToolError(Exception):
    """A failure the model should read (bad arguments, a refused path, a timeout)."""


@dataclass(frozen=True)
class ToolLimits:
    output_cap: int = 16 * 1024
    allow_shell: bool = False
    shell_timeout: float = 30.0
    webfetch_max_bytes: int = 512 * 1024
    webfetch_timeout: float = 15.0
    webfetch_allow: tuple[str, ...] = ()


class ToolHost(Protocol):
    """The engine side of the tools that change a job rather than files.

    agents never imports tasks or app; the worker passes an object with these methods.
    Each returns the text the model reads, or raises ToolError.
    """

    def ask_human(self, question: str) -> str: ...

    def spawn_subtask(self, title: str, instruction: str, piece: str | None) -> str: ...

    def delegate(self, agent: str, message: str, mode: str) -> str: ...


@dataclass
class ToolContext:
    workspace: Workspace | None
    limits: ToolLimits = field(default_factory=ToolLimits)
    host: ToolHost | None = None

    def need_workspace(self) -> Workspace:
        if self.workspace is None:
            raise ToolError("this agent has no workspace")
        return self.workspace

    def need_host(self) -> ToolHost:
        if self.host is None:
            raise ToolError("this tool is not available here")
        return self.host


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[ToolContext, dict[str, Any]], str]

    def spec(self) -> dict[str, Any]:
        """The OpenAI tool-calling declaration."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def schema(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


def arg_str(args: dict[str, Any], name: str, *, required: bool = True, default: str = "") -> str:
    value = args.get(name)
    if value is None:
        if required:
            raise ToolError(f"missing required argument {name!r}")
        return default
    if not isinstance(value, str):
        raise ToolError(f"argument {name!r} must be a string")
    return value


def arg_int(args: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = args.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"argument {name!r} must be an integer")
    return value
