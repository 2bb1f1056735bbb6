"""What the registry adds to a tool call: `ToolRegistry.call()` vs a raw `mcp.Client.call_tool()`.

Same server program, same run, in-process and over stdio; rounds alternate between the two paths
so machine load drifts hit both alike. Run: `python bench/tools.py [calls-per-path]`.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.server import MCPServer

from mcp_voice.tools import ServerSpec, ToolRegistry

ROUNDS = 10
TARGET_OVERHEAD_MS = 0.5


def build_server() -> MCPServer:
    server = MCPServer("bench")

    @server.tool(description="Echo the text back.")
    async def echo(text: str) -> str:
        return text

    return server


def stdio_params() -> StdioServerParameters:
    script = str(Path(__file__).resolve())
    return StdioServerParameters(command=sys.executable, args=[script, "--serve"])


async def timed(call: Callable[[], Awaitable[object]], n: int, into: list[float]) -> None:
    for _ in range(n):
        start = time.perf_counter()
        await call()
        into.append((time.perf_counter() - start) * 1000)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def compare(label: str, raw_target: object, spec: ServerSpec, calls: int) -> float:
    raw_ms: list[float] = []
    registry_ms: list[float] = []
    args = {"text": "hello"}
    async with Client(raw_target) as client, ToolRegistry([spec]) as registry:  # type: ignore[arg-type]
        assert not registry.errors, registry.errors

        async def raw() -> object:
            return await client.call_tool("echo", args)

        async def via_registry() -> object:
            result = await registry.call("bench__echo", args)
            assert not result.is_error, result.output
            return result

        await timed(raw, 50, [])  # warm both paths
        await timed(via_registry, 50, [])
        per_round = max(1, calls // ROUNDS)
        for _ in range(ROUNDS):
            await timed(raw, per_round, raw_ms)
            await timed(via_registry, per_round, registry_ms)
    raw_p50, reg_p50 = statistics.median(raw_ms), statistics.median(registry_ms)
    overhead = reg_p50 - raw_p50
    print(
        f"{label:<11} raw Client.call_tool  p50 {raw_p50:6.3f} ms  p99 {percentile(raw_ms, 0.99):6.3f} ms\n"
        f"{'':<11} ToolRegistry.call     p50 {reg_p50:6.3f} ms  p99 {percentile(registry_ms, 0.99):6.3f} ms\n"
        f"{'':<11} added at p50          {overhead:+6.3f} ms  ({len(raw_ms)} calls each)"
    )
    return overhead


async def main(calls: int) -> int:
    server = build_server()
    in_process = await compare("in-process", server, ServerSpec("bench", server), calls)
    stdio = await compare("stdio", stdio_params(), ServerSpec("bench", stdio_params()), calls)
    worst = max(in_process, stdio)
    verdict = "OK" if worst <= TARGET_OVERHEAD_MS else "OVER TARGET"
    print(f"target: registry adds <= {TARGET_OVERHEAD_MS} ms at p50 -> {verdict}")
    return 0 if worst <= TARGET_OVERHEAD_MS else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        build_server().run()
    else:
        sys.exit(anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
