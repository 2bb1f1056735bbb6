"""The session host: one realtime session between a client and an upstream, with MCP tools run in the host."""

from mcp_voice.channels import ChannelClosed, EventChannel, channel_pair
from mcp_voice.session.host import HostSettings, SessionHost, host_session

__all__ = ["ChannelClosed", "EventChannel", "HostSettings", "SessionHost", "channel_pair", "host_session"]
