"""The tool registry: every tool an agent can be allowed, by its name."""

from __future__ import annotations

from agents.tools import control, files, shell, web
from agents.tools.base import Tool, ToolContext, ToolError, ToolHost, ToolLimits

REGISTRY: dict[str, Tool] = {
    tool.name: tool for module in (files, shell, web, control) for tool in module.TOOLS
}

__all__ = ["REGISTRY", "Tool", "ToolContext", "ToolError", "ToolHost", "ToolLimits", "unknown"]


def unknown(names: list[str]) -> list[str]:
    """The names that are not tools (for validating agents and pieces)."""
    return [n for n in names if n not in REGISTRY]
