"""The simulator's session time limit: closed like OpenAI closes a session that ran too long.

OpenAI ends every Realtime session after 60 minutes (Azure after 30) with close 1001 and the
reason "Your session hit the maximum duration of 60 minutes." A short limit in the simulator lets
tests exercise what a client of that server must survive (see `protocol.reconnect`).
"""

from __future__ import annotations

import anyio
from websockets.asyncio.server import ServerConnection

GOING_AWAY = 1001


def max_duration_reason(seconds: float) -> str:
    return f"Your session hit the maximum duration of {seconds / 60:g} minutes."


async def close_at_max_duration(ws: ServerConnection, seconds: float) -> None:
    """Close `ws` once it has been open `seconds` (run beside the session; cancel it when it ends)."""
    await anyio.sleep(seconds)
    await ws.close(GOING_AWAY, max_duration_reason(seconds))
