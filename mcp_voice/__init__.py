"""mcp-voice: MCP tool servers in realtime voice sessions.

The public API. Names load lazily so that a plugin importing `mcp_voice.hookspecs` does not pull
in the session host, the simulator or the web stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # config and plugins
    "Config": "mcp_voice.config",
    "ConfigError": "mcp_voice.config",
    "load_config": "mcp_voice.config",
    "hookimpl": "mcp_voice.hookspecs",
    # the tool layer
    "open_tools": "mcp_voice.api",
    "load_tools": "mcp_voice.api",
    "ToolRegistry": "mcp_voice.tools.registry",
    "ServerSpec": "mcp_voice.tools.spec",
    "ToolPolicy": "mcp_voice.tools.spec",
    "ToolResult": "mcp_voice.tools.spec",
    "ToolImage": "mcp_voice.tools.spec",
    "HostTool": "mcp_voice.tools.spec",
    "ToolEvent": "mcp_voice.tools.spec",
    # sessions
    "SessionHost": "mcp_voice.session.host",
    "HostSettings": "mcp_voice.session.host",
    "host_session": "mcp_voice.session.host",
    "channel_pair": "mcp_voice.channels",
    "EventChannel": "mcp_voice.channels",
    "ChannelClosed": "mcp_voice.channels",
    "open_upstream": "mcp_voice.upstreams",
    "ReconnectingUpstream": "mcp_voice.protocol.reconnect",
    "ReconnectPolicy": "mcp_voice.protocol.reconnect",
    "run_simulator": "mcp_voice.sim",
    # What plugins use, so that a plugin imports only from `mcp_voice` (never a room inside it):
    "PolicyKeys": "mcp_voice.config",
    "preserve_root_logging": "mcp_voice.plugins",
    "temp_beside": "mcp_voice.files",
    "META_LONG_RUNNING": "mcp_voice.tools.spec",
    "META_CALL": "mcp_voice.session.context",
    "CallContext": "mcp_voice.session.context",
    "CallDecision": "mcp_voice.session.decision",
    "valid_transfer_target": "mcp_voice.session.decision",
    "CallsAPI": "mcp_voice.protocol.openai_calls",
    "CallsAPIError": "mcp_voice.protocol.openai_calls",
    "tls_context_once": "mcp_voice.protocol.openai_calls",
    "openai_base_url": "mcp_voice.protocol.openai_calls:base_url",
}

__all__ = [
    "META_CALL",
    "META_LONG_RUNNING",
    "CallContext",
    "CallDecision",
    "CallsAPI",
    "CallsAPIError",
    "ChannelClosed",
    "Config",
    "ConfigError",
    "EventChannel",
    "HostSettings",
    "HostTool",
    "PolicyKeys",
    "ReconnectPolicy",
    "ReconnectingUpstream",
    "ServerSpec",
    "SessionHost",
    "ToolEvent",
    "ToolImage",
    "ToolPolicy",
    "ToolRegistry",
    "ToolResult",
    "__version__",
    "channel_pair",
    "hookimpl",
    "host_session",
    "load_config",
    "load_tools",
    "open_tools",
    "open_upstream",
    "openai_base_url",
    "preserve_root_logging",
    "run_simulator",
    "temp_beside",
    "tls_context_once",
    "valid_transfer_target",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_voice' has no attribute {name!r}")
    module, _, attribute = module.partition(":")
    value = getattr(import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from mcp_voice.api import load_tools, open_tools
    from mcp_voice.channels import ChannelClosed, EventChannel, channel_pair
    from mcp_voice.config import Config, ConfigError, PolicyKeys, load_config
    from mcp_voice.files import temp_beside
    from mcp_voice.hookspecs import hookimpl
    from mcp_voice.plugins import preserve_root_logging
    from mcp_voice.protocol.openai_calls import CallsAPI, CallsAPIError, tls_context_once
    from mcp_voice.protocol.openai_calls import base_url as openai_base_url
    from mcp_voice.protocol.reconnect import ReconnectingUpstream, ReconnectPolicy
    from mcp_voice.session.context import META_CALL, CallContext
    from mcp_voice.session.decision import CallDecision, valid_transfer_target
    from mcp_voice.session.host import HostSettings, SessionHost, host_session
    from mcp_voice.sim import run_simulator
    from mcp_voice.tools.registry import ToolRegistry
    from mcp_voice.tools.spec import (
        META_LONG_RUNNING,
        HostTool,
        ServerSpec,
        ToolEvent,
        ToolImage,
        ToolPolicy,
        ToolResult,
    )
    from mcp_voice.upstreams import open_upstream
