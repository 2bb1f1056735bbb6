"""Realtime protocol pieces shared by the host, serve and the simulator: events, dialects, upstreams."""

from mcp_voice.protocol.dialects import (
    BetaClientChannel,
    client_event_to_ga,
    dialect_from_headers,
    server_event_to_beta,
)
from mcp_voice.protocol.events import ClientEventError, error_event, parse_client_event
from mcp_voice.protocol.upstream import UpstreamError, open_upstream

__all__ = [
    "BetaClientChannel",
    "ClientEventError",
    "UpstreamError",
    "client_event_to_ga",
    "dialect_from_headers",
    "error_event",
    "open_upstream",
    "parse_client_event",
    "server_event_to_beta",
]
