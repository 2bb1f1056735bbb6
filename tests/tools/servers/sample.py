"""A sample MCP server exercising what the registry must handle.

Used in-process (`build_server(probe)`) and over stdio (`python sample.py`). Over stdio, events
the test cannot see directly (a handler being cancelled) are recorded as files in
`$SAMPLE_EVENTS_DIR`.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Image
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from mcp_voice.tools.spec import META_LONG_RUNNING, META_ON_BARGE_IN, META_TIMEOUT_S

# A 1x1 transparent PNG.
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@dataclass
class Probe:
    """What an in-process test can observe inside the server."""

    cancelled: anyio.Event = field(default_factory=anyio.Event)
    started: anyio.Event = field(default_factory=anyio.Event)
    running: int = 0
    max_running: int = 0
    release: anyio.Event = field(default_factory=anyio.Event)


class Address(BaseModel):
    street: str = Field(description="Street and number")
    city: str


def _record(event: str) -> None:
    folder = os.environ.get("SAMPLE_EVENTS_DIR")
    if folder:
        (Path(folder) / event).write_text("1")


def build_server(probe: Probe | None = None) -> MCPServer:
    probe = probe or Probe()
    server = MCPServer("sample")

    @server.tool(description="Echo the text back.")
    async def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.")
    async def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Always fails with the given message.")
    async def fail(message: str) -> str:
        raise ToolError(message)

    @server.tool(description="Sleep, noting if the sleep was cancelled.")
    async def slow(seconds: float) -> str:
        probe.started.set()
        _record("slow-started")
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            probe.cancelled.set()
            _record("slow-cancelled")
            raise
        return "done"

    @server.tool(description="The server's process id.")
    async def pid() -> int:
        return os.getpid()

    @server.tool(description="Report progress in steps.")
    async def work(steps: int, ctx: Context) -> str:
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
        return f"did {steps} steps"

    @server.tool(description="Return a tiny image and a caption.", structured_output=False)
    async def picture() -> list[object]:
        return ["a pixel", Image(data=PNG_1PX, format="png")]

    @server.tool(description="Hold until released, counting how many run at once.")
    async def gate() -> str:
        probe.running += 1
        probe.max_running = max(probe.max_running, probe.running)
        try:
            await probe.release.wait()
        finally:
            probe.running -= 1
        return "released"

    @server.tool(description="Add a tool named `name` that returns `reply`.")
    async def grow(name: str, reply: str, ctx: Context) -> str:
        async def added() -> str:
            return reply

        server.add_tool(added, name=name, description=f"Added at runtime: replies {reply!r}.")
        await ctx.notify_tools_changed()
        return f"added {name}"

    @server.tool(
        description="A job the host should run asynchronously.",
        meta={META_LONG_RUNNING: True, META_ON_BARGE_IN: "cancel", META_TIMEOUT_S: 120},
    )
    async def long_job() -> str:
        return "job done"

    @server.tool(description="Delete everything.", annotations=ToolAnnotations(destructive_hint=True))
    async def wipe() -> str:
        return "wiped"

    @server.tool(description="Look something up.", annotations=ToolAnnotations(read_only_hint=True))
    async def lookup(key: str) -> str:
        return f"value of {key}"

    @server.tool(description="Format a postal address.")
    async def address(to: Address, copies: int = 1) -> str:
        return f"{to.street}, {to.city} x{copies}"

    @server.tool(name="dotted.name", description="A tool whose name needs sanitising.")
    async def weird() -> str:
        return "weird ok"

    return server


if __name__ == "__main__":
    build_server().run()
