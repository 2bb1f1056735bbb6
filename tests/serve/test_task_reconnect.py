"""A call the server runs as an MCP task outlives an upstream drop and is spoken once after it.

serve on loopback, the simulator as upstream (dropped by aborting its TCP connection), and the
fastmcp + fastmcp-tasks server over stdio: the task is the host's, not the upstream's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from conftest import serving
from test_serve_wire import until, user_text
from test_upstream_reconnect import QUICK, SimUpstreams

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec, ToolEvent
from tests.tasks.conftest import task_stdio

pytestmark = pytest.mark.anyio


async def test_a_task_survives_an_upstream_drop_and_is_spoken_once(tmp_path: Path) -> None:
    tasks: list[ToolEvent] = []
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        registry.add_event_listener(lambda e: tasks.append(e) if e.kind == "task" else None)
        upstreams = SimUpstreams()
        settings = ServeSettings(upstream="sim", reconnect=QUICK)
        async with serving(registry, settings, upstream=upstreams) as where:
            async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
                seen: list[dict[str, Any]] = []
                await until(ws, "session.created", seen)
                await ws.send(user_text('tasks__slow_count {"steps": 5, "delay_s": 0.4}'))
                await ws.send(json.dumps({"type": "response.create"}))
                # the task's placeholder: the mcp_call is done for the client at once
                completed = await until(ws, "response.mcp_call.completed", seen)
                await upstreams.abort(0)
                await upstreams.wait_for(2)
                with anyio.fail_after(20):
                    while True:
                        done = await until(ws, "response.done", seen)
                        if "counted 5" in json.dumps(done["response"]["output"]):
                            break
                with anyio.move_on_after(1.0):
                    while True:
                        seen.append(json.loads(await ws.recv()))
    assert len(tasks) == 1 and completed["item_id"]
    spoken = [
        e for e in seen if e["type"] == "response.done" and "counted 5" in json.dumps(e["response"]["output"])
    ]
    assert len(spoken) == 1
