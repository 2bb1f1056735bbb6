"""Realtime protocol pieces the host, serve and the simulator share: events, dialects, upstream sockets."""

from mcp_voice.protocol.dialects import (
    BetaClientChannel,
    client_event_to_ga,
    dialect_from_headers,
    server_event_to_beta,
)
from mcp_voice.protocol.events import ClientEventError, error_event, parse_client_event
from mcp_voice.protocol.upstream import UpstreamError, connect_upstream

__all__ = [
    "BetaClientChannel",
    "ClientEventError",
    "UpstreamError",
    "client_event_to_ga",
    "connect_upstream",
    "dialect_from_headers",
    "error_event",
    "parse_client_event",
    "server_event_to_beta",
]
