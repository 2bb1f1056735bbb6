"""Small in-process MCP servers the session tests call through a real ToolRegistry.

Each slow tool waits on an `anyio.Event` the test holds, so a test decides exactly when a call
finishes, and records whether it was cancelled (MCP cancellation reached the handler).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from dataclasses import dataclass, field

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Image
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from mcp_voice.tools.spec import META_LONG_RUNNING, META_ON_BARGE_IN

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@dataclass
class Gate:
    """Controls one slow tool from the test."""

    started: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)
    cancelled: anyio.Event = field(default_factory=anyio.Event)
    calls: int = 0


@dataclass
class Probe:
    gates: defaultdict[str, Gate] = field(default_factory=lambda: defaultdict(Gate))

    def __getitem__(self, name: str) -> Gate:
        return self.gates[name]


def build_voice_server(probe: Probe) -> MCPServer:
    server = MCPServer("voice")

    async def hold(name: str) -> None:
        gate = probe[name]
        gate.calls += 1
        gate.started.set()
        try:
            await gate.release.wait()
        except anyio.get_cancelled_exc_class():
            gate.cancelled.set()
            raise

    @server.tool(description="Add two integers.")
    async def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Look up the weather in a city (waits for the test).")
    async def weather(city: str) -> str:
        await hold("weather")
        return f"sunny in {city}"

    @server.tool(description="Always fails.")
    async def broken(reason: str = "boom") -> str:
        raise ToolError(reason)

    for policy in ("cancel", "keep", "announce"):

        def make(policy: str = policy) -> None:
            async def job(topic: str = "x") -> str:
                await hold(f"job_{policy}")
                return f"report on {topic} ({policy})"

            server.add_tool(
                job,
                name=f"job_{policy}",
                description=f"A long-running job; barge-in: {policy}.",
                meta={META_LONG_RUNNING: True, META_ON_BARGE_IN: policy},
            )

        make()

    @server.tool(description="A sync lookup cancelled on barge-in.", meta={META_ON_BARGE_IN: "cancel"})
    async def fetch(key: str) -> str:
        await hold("fetch")
        return f"value of {key}"

    @server.tool(description="A long job that reports progress.", meta={META_LONG_RUNNING: True})
    async def crunch(steps: int, ctx: Context) -> str:
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
        await hold("crunch")
        return f"crunched {steps}"

    @server.tool(description="Delete everything.", annotations=ToolAnnotations(destructive_hint=True))
    async def wipe(target: str) -> str:
        return f"wiped {target}"

    @server.tool(description="A picture and a caption.", structured_output=False)
    async def snapshot() -> list[object]:
        return ["a pixel", Image(data=PNG_1PX, format="png")]

    return server


def build_extra_server() -> MCPServer:
    """A second server, for client `mcp_server` / `mcp` entries and allow-lists."""
    server = MCPServer("extra")

    @server.tool(description="Say hello.")
    async def hello(name: str) -> str:
        return f"hello {name}"

    @server.tool(description="Say goodbye.")
    async def bye(name: str) -> str:
        return f"bye {name}"

    return server
