"""Per-connection choices a client makes in the endpoint URL (beside `?model=`).

`?host_calls=hidden` asks for a view without host call items, for GA clients that know only
function calls (pipecat's `OpenAIRealtimeLLMService` stops at the first `mcp_call`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from mcp_voice.session.host import HostSettings

HOST_CALLS = ("mcp", "hidden")


def connection_settings(settings: HostSettings, query: Mapping[str, str]) -> HostSettings | str:
    """The session's settings for this connection, or a message saying which parameter is wrong."""
    host_calls = query.get("host_calls")
    if host_calls is None or host_calls == settings.host_calls:
        return settings
    if host_calls not in HOST_CALLS:
        return f"host_calls must be one of {', '.join(HOST_CALLS)} (got {host_calls!r})"
    return dataclasses.replace(settings, host_calls=host_calls)  # type: ignore[arg-type]
