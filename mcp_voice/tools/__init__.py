"""The tool layer: MCP servers connected once and exposed as Realtime function tools."""

from mcp_voice.tools.connection import ServerUnavailable
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import (
    HostTool,
    ServerSpec,
    ToolEvent,
    ToolImage,
    ToolPolicy,
    ToolResult,
)

__all__ = [
    "HostTool",
    "ServerSpec",
    "ServerUnavailable",
    "ToolEvent",
    "ToolImage",
    "ToolPolicy",
    "ToolRegistry",
    "ToolResult",
]
