"""A stdio MCP server for the takeover tests: a quick tool, and one that runs until its process dies."""

from __future__ import annotations

import anyio
from mcp.server import MCPServer

server = MCPServer("tk")


@server.tool()
async def lookup(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}"


@server.tool()
async def hold(seconds: float = 3600) -> str:
    """Waits (the work in flight when its serve process is killed)."""
    await anyio.sleep(seconds)
    return "held"


if __name__ == "__main__":
    server.run()
