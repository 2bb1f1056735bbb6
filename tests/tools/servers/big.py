"""A stdio MCP server whose tool returns as many bytes as asked (results past a pipe's buffer)."""

from __future__ import annotations

from mcp.server import MCPServer

server = MCPServer("big")


@server.tool(description="A text of `size` characters, `x` but for a marker at each end.")
async def blob(size: int) -> str:
    return "<" + "x" * max(size - 2, 0) + ">"


if __name__ == "__main__":
    server.run()
