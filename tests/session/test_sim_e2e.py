"""End to end: a client, the host, and the simulator over a real WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from mcp_voice.protocol.upstream import open_upstream
from mcp_voice.session import channel_pair, host_session
from mcp_voice.sim.config import SimConfig
from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import Recorder, assert_ga, check_response_creates

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def sim_session(registry: ToolRegistry) -> AsyncIterator[tuple[Any, list]]:
    timeline: list[tuple[str, Any]] = []
    client_end, host_client = channel_pair()
    async with open_upstream("sim", model="gpt-realtime", sim_config=SimConfig(speed=0)) as upstream:
        recorded = Recorder(upstream, "upstream", timeline)
        try:
            async with host_session(registry, recorded, Recorder(host_client, "client", timeline)):
                yield client_end, timeline
        finally:
            await client_end.aclose()
    check_response_creates(timeline)
    for direction, event in timeline:
        if direction == "to_client":
            assert_ga(event)
        if direction == "from_upstream":
            assert event.get("type") != "error", event


def say(text: str) -> dict:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": item}


async def spoken(client: Any) -> str:
    """The transcript of the next completed response with an assistant message."""
    with anyio.fail_after(10):
        while True:
            event = await client.receive()
            if event["type"] == "response.done":
                for item in event["response"].get("output") or ():
                    if item["type"] == "message":
                        return " ".join(c.get("transcript") or c.get("text") or "" for c in item["content"])


async def test_sync_tool_through_the_simulator(registry: ToolRegistry) -> None:
    async with sim_session(registry) as (client, timeline):
        await client.send(say('please use voice__add {"a": 2, "b": 40}'))
        await client.send({"type": "response.create"})
        text = await spoken(client)
        assert "Tool result" in text and "42" in text
        kinds = [e["type"] for d, e in timeline if d == "to_client"]
        assert "response.mcp_call.completed" in kinds and "response.function_call_arguments.done" not in kinds


async def test_long_running_tool_through_the_simulator(registry: ToolRegistry, probe: Probe) -> None:
    async with sim_session(registry) as (client, timeline):
        await client.send(say('run voice__job_announce {"topic": "tides"}'))
        await client.send({"type": "response.create"})
        assert '"running"' in await spoken(client)  # the model tells the user it started
        probe["job_announce"].release.set()
        text = await spoken(client)
        assert "report on tides" in text
        creates = [e for d, e in timeline if d == "to_upstream" and e["type"] == "response.create"]
        assert len(creates) == 3  # the client's, the placeholder's, the result's
        notes = [e for d, e in timeline if d == "to_upstream" and "background job" in json.dumps(e)]
        assert len(notes) == 1
