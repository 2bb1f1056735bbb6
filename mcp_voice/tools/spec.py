"""The value types every room shares: what a server is, how a tool behaves, what a call returns.

Plugins build `ServerSpec`s, the registry turns them into `HostTool`s, the session host reads
their `ToolPolicy` and gets `ToolResult`s back. Nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp import StdioServerParameters
from mcp.server import MCPServer, Server

BargeIn = Literal["cancel", "keep", "announce"]
"""What a running call does when the user starts speaking (see README, "Barge-in")."""

META_PREFIX = "dev.mcp-voice/"
"""Reverse-DNS prefix of the `_meta` keys mcp-voice reads from an MCP tool."""
META_LONG_RUNNING = META_PREFIX + "long-running"
"""`_meta` key: `true` marks a tool as long-running (an async call)."""
META_ON_BARGE_IN = META_PREFIX + "on-barge-in"
"""`_meta` key: "cancel" | "keep" | "announce"."""
META_TIMEOUT_S = META_PREFIX + "timeout-s"
"""`_meta` key: a per-tool timeout in seconds."""

ServerTarget = MCPServer | Server[Any] | StdioServerParameters | str
"""In-process server, stdio command, or streamable-HTTP URL: what `mcp.Client` accepts."""


@dataclass(frozen=True)
class ToolPolicy:
    """How the host treats one tool. Resolved from config, the tool's `_meta`, then the policy hook."""

    long_running: bool = False
    timeout_s: float = 30.0
    on_barge_in: BargeIn = "keep"
    approval: bool = False


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server a plugin or the config contributes.

    `tools` is an allow-list of MCP tool names (None: all). `long_running` and `approval` name
    tools (or "*") that get those policies; the rest are defaults for every tool of the server.
    """

    name: str
    target: ServerTarget
    headers: Mapping[str, str] = field(default_factory=dict)
    tools: Sequence[str] | None = None
    long_running: Sequence[str] = ()
    approval: Sequence[str] = ()
    timeout_s: float = 30.0
    on_barge_in: BargeIn = "keep"
    max_concurrency: int = 4
    plugin: str | None = None
    """Name of the plugin that registered it (None for `[servers.*]` config entries)."""
    summary: str | None = None
    """One line about what it serves, printed at serve start (the filesystem plugin: its root)."""

    @property
    def kind(self) -> Literal["in-process", "stdio", "url"]:
        if isinstance(self.target, str):
            return "url"
        if isinstance(self.target, StdioServerParameters):
            return "stdio"
        return "in-process"

    def base_policy(self, tool_name: str) -> ToolPolicy:
        """The policy this spec alone gives `tool_name` (before `_meta` and the hook)."""
        return ToolPolicy(
            long_running="*" in self.long_running or tool_name in self.long_running,
            timeout_s=self.timeout_s,
            on_barge_in=self.on_barge_in,
            approval="*" in self.approval or tool_name in self.approval,
        )


@dataclass(frozen=True)
class ToolImage:
    """An image a tool returned, kept for the host to show the model."""

    mime_type: str
    data: str
    """Base64, as MCP carries it."""

    @property
    def data_url(self) -> str:
        return f"data:{self.mime_type};base64,{self.data}"


@dataclass(frozen=True)
class ToolResult:
    """A finished call, already shaped for the model.

    `output` is the `function_call_output` string: text joined, structured content as JSON, or
    for an error a JSON object `{"error": {...}}` the model can read out.
    """

    output: str
    is_error: bool = False
    images: tuple[ToolImage, ...] = ()
    structured: Any = None

    @property
    def error_message(self) -> str | None:
        """For an error, its message alone (what a UI shows beside the call); None for a success."""
        if not self.is_error:
            return None
        try:
            message = json.loads(self.output)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            return self.output
        return message if isinstance(message, str) else self.output


@dataclass(frozen=True)
class HostTool:
    """A tool as the model sees it: `<server>__<tool>` with a Realtime-ready schema."""

    name: str
    server: str
    tool_name: str
    description: str
    parameters: Mapping[str, Any]
    policy: ToolPolicy
    read_only: bool = False
    destructive: bool = False

    def function_tool(self) -> dict[str, Any]:
        """The Realtime `session.tools` entry."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


ToolEventKind = Literal[
    "started",
    "task",
    "asked",
    "progress",
    "finished",
    "failed",
    "cancelled",
    "tools_changed",
    "server_restarted",
]
"""`task`: the server runs the call as an MCP task (detail: task_id, ttl_ms, poll_interval_ms);
`asked`: the server asked the user a question during the call (detail: mode)."""


@dataclass(frozen=True)
class ToolEvent:
    """What observers (the `tool_event` hook) hear about tool activity."""

    kind: ToolEventKind
    server: str
    tool: str | None = None
    call_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
