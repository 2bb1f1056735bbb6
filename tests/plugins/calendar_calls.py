"""Calling the calendar's tools in tests: the structured result, or the error text the model reads."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """The tool's structured result; fails the test on a tool error."""
    with anyio.fail_after(20):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    content = result.structured_content
    return content["result"] if set(content) == {"result"} else content


async def error(client: Client, tool: str, **arguments: Any) -> str:
    """The error text the model would read; fails the test if the call succeeded."""
    with anyio.fail_after(20):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return " ".join(getattr(part, "text", "") for part in result.content)
