"""CPU the host spends reading one large tool result over stdio: the mcp SDK's reader vs ours.

    python bench/results.py [sizes in MB, default 1 10 20]

The same server subprocess program, the same run: for each size, one `call_tool` through
`mcp.Client` over the SDK's `stdio_client` and over `mcp_voice.tools.stdio_reader.linear_stdio_client`
(with its cap lifted, to compare the reading itself), then ours at its default cap, which refuses
a message past `MAX_MESSAGE_BYTES` without reading it. CPU is this process's (`time.process_time`),
which is what serve pays: the server's own work is in its subprocess and not counted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server import MCPServer

from mcp_voice.tools.stdio_reader import MAX_MESSAGE_BYTES, linear_stdio_client

MB = 1_000_000


def build_server() -> MCPServer:
    server = MCPServer("results")

    @server.tool(description="A text of `size` characters.")
    async def blob(size: int) -> str:
        return "x" * size

    return server


REPO = Path(__file__).resolve().parents[1]
PARAMS = StdioServerParameters(
    command=sys.executable,
    args=[str(Path(__file__).resolve()), "--serve"],
    env={"PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))},  # the server imports this file's imports
)


async def cpu_for(transport: Callable[[], Any], size: int) -> tuple[float, str]:
    """CPU seconds of one call of `size` characters (after a warm-up call), and how it ended."""
    async with Client(transport()) as client:
        await client.call_tool("blob", {"size": 10})
        start = time.process_time()
        try:
            result = await client.call_tool("blob", {"size": size})
            outcome = f"{len(result.content[0].text) / MB:.0f} MB read"  # type: ignore[union-attr]
        except MCPError as exc:
            outcome = f"refused ({str(exc)[:40]}...)"
        return time.process_time() - start, outcome


async def main(sizes: list[int]) -> None:
    cap = MAX_MESSAGE_BYTES / 2**20
    print(f"one tool result over stdio; CPU s of this process (cap {cap:.0f} MiB per message)")
    print(f"{'size':>6}  {'SDK reader':>11}  {'ours':>8}  {'ratio':>6}  ours at its default cap")
    for size_mb in sizes:
        size = size_mb * MB
        sdk, _ = await cpu_for(lambda: stdio_client(PARAMS), size)
        ours, _ = await cpu_for(lambda: linear_stdio_client(PARAMS, max_message_bytes=2**31), size)
        capped, outcome = await cpu_for(lambda: linear_stdio_client(PARAMS), size)
        print(f"{size_mb:>4} MB  {sdk:>10.2f}s  {ours:>7.2f}s  {sdk / ours:>5.1f}x  {capped:.2f}s, {outcome}")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        build_server().run()
    else:
        anyio.run(main, [int(a) for a in sys.argv[1:]] or [1, 10, 20])
