"""The MCP server the serve tests give their sessions: one quick tool and one long-running one.

Runs in-process (`server`) or as a stdio server (`python tool_server.py`) for the subprocess tests.
"""

from __future__ import annotations

import anyio
from mcp.server import MCPServer

server = MCPServer("testtools")


@server.tool()
async def lookup(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}, 21 degrees"


@server.tool()
async def slow_report(topic: str) -> str:
    """A report that takes a while to prepare."""
    await anyio.sleep(0.3)  # the work being waited for; the tests await events, not this
    return f"report on {topic}: all systems nominal"


if __name__ == "__main__":
    server.run()
