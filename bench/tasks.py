"""The host's overhead on a call the server runs as an MCP task, against the server's own time.

A real fastmcp + fastmcp-tasks server (tests/tasks/task_server.py, stdio, pollIntervalMs 200)
and the session host with a scripted upstream (bench/host.py's Model). Per task:

- task created -> placeholder sent: the registry's `task` event to the placeholder
  `function_call_output` reaching the upstream;
- server result ready -> injected: the tool's return (its own clock, written to a file) to the
  result note reaching the upstream; against the server's own time for the task and against
  fastmcp's own client (result ready -> `call_tool` returned) on the same server in the same run;
- `tasks/get` calls per task (our client polls at most once per pollIntervalMs).

    python bench/tasks.py [--tasks 10] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import StdioServerParameters

from bench.host import Model
from mcp_voice.channels import channel_pair
from mcp_voice.session.host import HostSettings, SessionHost
from mcp_voice.tools import tasks as tasks_module
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec, ToolEvent

SERVER = Path(__file__).resolve().parents[1] / "tests" / "tasks" / "task_server.py"
STEPS = 4


def stamp(folder: Path, name: str) -> float:
    return float((folder / name).read_text())


async def host_run(folder: Path, count: int, seconds: float) -> dict[str, list[float]]:
    params = StdioServerParameters(
        command=sys.executable, args=[str(SERVER)], env={**os.environ, "TASK_EVENTS_DIR": str(folder)}
    )
    created: dict[str, float] = {}
    gets = 0
    original = tasks_module.get_task

    async def counted(session: Any, task_id: str) -> Any:
        nonlocal gets
        gets += 1
        return await original(session, task_id)

    tasks_module.get_task = counted  # type: ignore[assignment]

    def on_event(event: ToolEvent) -> None:
        if event.kind == "task" and event.call_id:
            created[event.call_id] = time.time()

    figures: dict[str, list[float]] = {"placeholder": [], "injected": [], "server": [], "gets": []}
    async with ToolRegistry([ServerSpec("tasks", params)], on_event=on_event) as registry:
        host_side, upstream = channel_pair()
        client_side, _client = channel_pair()
        model = Model(upstream)
        settings = HostSettings(progress_updates=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(SessionHost(registry, host_side, client_side, settings).run)
            await model.send(type="session.created", session={"type": "realtime", "id": "sess_bench"})
            for i in range(count):
                before = gets
                args = f'{{"steps": {STEPS}, "delay_s": {seconds / STEPS}, "tag": "-h{i}"}}'
                call_id = await model.call("tasks__slow_count", args)
                await model.until("conversation.item.create", item__call_id=call_id)
                placeholder_at = time.time()
                event = await model.until("conversation.item.create", item__role="system")
                injected_at = time.time()
                assert call_id in event["item"]["content"][0]["text"]
                done = stamp(folder, f"done-{STEPS}-h{i}")
                figures["placeholder"].append(placeholder_at - created[call_id])
                figures["injected"].append(injected_at - done)
                figures["server"].append(done - stamp(folder, f"started-{STEPS}-h{i}"))
                figures["gets"].append(gets - before)
            tg.cancel_scope.cancel()
    tasks_module.get_task = original  # type: ignore[assignment]
    return figures


async def fastmcp_run(folder: Path, count: int, seconds: float) -> list[float]:
    """fastmcp's own client on the same server: result ready -> call_tool returned."""
    import fastmcp_tasks  # noqa: F401  (registers fastmcp's tasks client)
    from fastmcp import Client
    from fastmcp.client.transports import PythonStdioTransport

    transport = PythonStdioTransport(str(SERVER), env={**os.environ, "TASK_EVENTS_DIR": str(folder)})
    delays = []
    async with Client(transport) as client:
        for i in range(count):
            args = {"steps": STEPS, "delay_s": seconds / STEPS, "tag": f"-f{i}"}
            await client.call_tool("slow_count", args)
            delays.append(time.time() - stamp(folder, f"done-{STEPS}-f{i}"))
    return delays


async def main(count: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        host = await host_run(folder, count, seconds)
        baseline = await fastmcp_run(folder, count, seconds)
    ms = 1000
    p50 = statistics.median
    server = p50(host["server"]) * ms
    print(f"tasks: {count}, server's own time per task p50 {server:.0f} ms, pollIntervalMs 200")
    print(
        f"task created -> placeholder sent     p50 {p50(host['placeholder']) * ms:.2f} ms"
        f"   max {max(host['placeholder']) * ms:.2f} ms"
    )
    injected = p50(host["injected"]) * ms
    print(
        f"server result ready -> injected      p50 {injected:.1f} ms"
        f"   max {max(host['injected']) * ms:.1f} ms"
        f"   ({injected / server:.3f}x the server's time)"
    )
    fast = p50(baseline) * ms
    print(
        f"fastmcp Client: ready -> returned    p50 {fast:.1f} ms"
        f"   (ratio host/fastmcp {injected / fast:.2f}x)"
    )
    print(
        f"tasks/get per task                   p50 {p50(host['gets']):.0f}   max {max(host['gets']):.0f}"
        f"   (one per 200 ms of a {server:.0f} ms task: <= {server / 200 + 1:.0f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    anyio.run(main, options.tasks, options.seconds)
