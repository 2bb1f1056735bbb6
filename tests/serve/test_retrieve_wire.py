"""A host call sends `conversation.item.retrieved` only to a client that asked (issue 17).

Two clients run the same host call through serve and the simulator: the one that never sends
`conversation.item.retrieve` gets no `conversation.item.retrieved`; the one that asks while the
call runs gets exactly one answer, the `mcp_call` as it stands (no output yet).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import websockets
from conftest import serving
from mcp.server import MCPServer
from test_serve_wire import instant_sim, until, user_text

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec

pytestmark = pytest.mark.anyio

held = MCPServer("held")
release: list[anyio.Event] = []


@held.tool()
async def slow_report(topic: str) -> str:
    """A report that is ready when the test says so (so a client can ask about it meanwhile)."""
    with anyio.fail_after(10):
        await release[-1].wait()
    return f"report on {topic}: all systems nominal"


@pytest.fixture
async def registry() -> AsyncIterator[ToolRegistry]:
    async with ToolRegistry([ServerSpec(name="testtools", target=held)]) as registry:
        yield registry


TEXT_ONLY = json.dumps(
    {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
)


async def run_call(ws: websockets.ClientConnection, *, retrieve: bool) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    release.append(anyio.Event())
    await until(ws, "session.created", seen)
    await ws.send(TEXT_ONLY)
    await until(ws, "session.updated", seen)
    await ws.send(user_text('testtools__slow_report {"topic": "fuel"}'))
    await ws.send(json.dumps({"type": "response.create"}))
    started = await until(ws, "response.mcp_call.in_progress", seen)
    if retrieve:
        ask = {"type": "conversation.item.retrieve", "event_id": "evt_ask", "item_id": started["item_id"]}
        await ws.send(json.dumps(ask))
        await until(ws, "conversation.item.retrieved", seen)
    release[-1].set()
    while True:  # until the model's answer after the tool result
        done = await until(ws, "response.output_text.done", seen)
        if "all systems nominal" in done["text"]:
            return seen


async def test_no_unasked_retrieved_and_one_answer_when_asked(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim"), upstream=instant_sim) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            quiet = await run_call(ws, retrieve=False)
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            asked = await run_call(ws, retrieve=True)
    assert "response.mcp_call.completed" in [e["type"] for e in quiet]
    assert [e for e in quiet if e["type"] == "conversation.item.retrieved"] == []
    answers = [e for e in asked if e["type"] == "conversation.item.retrieved"]
    assert len(answers) == 1, " ".join(e["type"] + str(e.get("error") or "") for e in asked)
    item = answers[0]["item"]
    assert (item["type"], item["name"], item["output"]) == ("mcp_call", "slow_report", None)
    kinds = [e["type"] for e in asked]
    assert kinds.index("conversation.item.retrieved") < kinds.index("response.mcp_call.completed")
