"""A real third-party task server: fastmcp + fastmcp-tasks (SEP-2663), over stdio or HTTP.

`python task_server.py` serves stdio; `python task_server.py http PORT` streamable HTTP.
`slow_count(steps, delay_s)` runs as a task: it sleeps `steps` times, reporting progress each
step, and returns "counted N". `TASK_EVENTS_DIR`, when set, gets a file per event the test
cannot see otherwise (`started-<n><tag>`, `done-<n><tag>`, `cancelled-<n>`,
holding the time).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.utilities.tasks import TaskConfig
from fastmcp_tasks import TasksExtension

POLL = TaskConfig(mode="optional", poll_interval=timedelta(milliseconds=200))


def _mark(name: str) -> None:
    """A file named `name` holding the wall-clock time (bench/tasks.py reads it)."""
    folder = os.environ.get("TASK_EVENTS_DIR")
    if folder:
        Path(folder, name).write_text(repr(time.time()))


def build() -> FastMCP:
    mcp = FastMCP("tasks")
    mcp.add_extension(TasksExtension(url="memory://"))

    @mcp.tool(task=POLL)
    async def slow_count(
        steps: int = 3, delay_s: float = 0.3, tag: str = "", ctx: Context | None = None
    ) -> str:
        """Count slowly, reporting progress (a background task)."""
        _mark(f"started-{steps}{tag}")
        try:
            for step in range(1, steps + 1):
                await asyncio.sleep(delay_s)
                if ctx is not None:
                    await ctx.report_progress(step, steps, f"step {step} of {steps}")
        except asyncio.CancelledError:
            _mark(f"cancelled-{steps}")
            raise
        _mark(f"done-{steps}{tag}")
        return f"counted {steps}"

    @mcp.tool(task=POLL)
    async def failing(reason: str = "boom") -> str:
        """Fail after a moment (a background task)."""
        await asyncio.sleep(0.2)
        raise RuntimeError(reason)

    @mcp.tool(task=POLL)
    async def ask_name(ctx: Context) -> str | mcp_types.InputRequiredResult:
        """Ask the user's name, as a task (it parks in input_required until answered)."""
        answer = (ctx.input_responses or {}).get("name")
        if answer is None:
            schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            params = mcp_types.ElicitRequestFormParams(message="What is your name?", requested_schema=schema)
            return mcp_types.InputRequiredResult(
                input_requests={"name": mcp_types.ElicitRequest(params=params)}
            )
        result = mcp_types.ElicitResult.model_validate(answer)
        if result.action != "accept" or not result.content:
            return f"no name ({result.action})"
        return f"hello {result.content['name']}"

    @mcp.tool
    async def quick(text: str = "hi") -> str:
        """An ordinary tool (never a task)."""
        return f"quick {text}"

    return mcp


if __name__ == "__main__":
    _mark(f"pid-{os.getpid()}")
    server = build()
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        server.run(show_banner=False)
