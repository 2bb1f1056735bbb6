"""mcp-voice call-control plugin: `hang_up` and `transfer` for calls OpenAI carries (SIP, WebRTC).

Opt-in: it registers nothing unless `[plugins.call_control] enabled = true`. This module is the
`call_control` entry point, so it exposes the hook implementation.
"""

from .plugin import CallControlSettings, register_servers
from .server import build_server

__all__ = ["CallControlSettings", "build_server", "register_servers"]
