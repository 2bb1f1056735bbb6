"""Upstream drops at the wire: serve keeps the client, reconnects the simulator, loses nothing.

Each test plays a client over a real WebSocket; the upstream is the simulator on loopback, dropped
by aborting its TCP connection, by its own session time limit (close 1001, OpenAI's reason), or
rolled over by serve before that limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import websockets
from conftest import serving
from mcp.server import MCPServer
from test_serve_wire import until, user_text

from mcp_voice.protocol.reconnect import ReconnectPolicy
from mcp_voice.protocol.upstream import WebSocketUpstream
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.sim import SimConfig
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from mcp_voice.upstreams import open_upstream

pytestmark = pytest.mark.anyio
QUICK = ReconnectPolicy(initial_backoff_s=0.05, max_backoff_s=0.1, rollover_after_s=None)


class SimUpstreams:
    """serve's upstream opener: a simulator per connection, each recorded so a test can drop it."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig(speed=0)
        self.opened: list[WebSocketUpstream] = []
        self._changed = anyio.Event()

    def __call__(self, target: str, **kw: Any) -> Any:
        @asynccontextmanager
        async def open_one() -> AsyncIterator[WebSocketUpstream]:
            async with open_upstream(target, sim_config=self.config, **kw) as channel:
                self.opened.append(channel)
                changed, self._changed = self._changed, anyio.Event()
                changed.set()
                yield channel

        return open_one()

    async def wait_for(self, count: int) -> WebSocketUpstream:
        with anyio.fail_after(20):
            while len(self.opened) < count:
                await self._changed.wait()
        return self.opened[count - 1]

    async def abort(self, index: int) -> None:
        """The network drops: no close frame, the TCP connection just goes."""
        transport = self.opened[index].ws.transport
        transport.abort()


def create(item_id: str, text: str) -> str:
    event = json.loads(user_text(text))
    event["item"]["id"] = item_id
    return json.dumps(event)


async def retrieve(ws: websockets.ClientConnection, item_id: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "conversation.item.retrieve", "item_id": item_id}))
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(10):
        while True:
            event = json.loads(await ws.recv())
            seen.append(event)
            if event["type"] in ("conversation.item.retrieved", "error"):
                return event


async def converse(
    ws: websockets.ClientConnection, item_id: str, text: str, seen: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One user turn and the model's reply: the `response.done` (what came on the way goes to `seen`)."""
    await ws.send(create(item_id, text))
    await ws.send(json.dumps({"type": "response.create"}))
    return await until(ws, "response.done", seen)


async def test_a_dropped_upstream_is_restored_with_the_config_and_the_conversation(registry: Any) -> None:
    upstreams = SimUpstreams()
    settings = ServeSettings(upstream="sim", reconnect=QUICK)
    async with serving(registry, settings, upstream=upstreams) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            update = {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
            await ws.send(json.dumps(update))
            await until(ws, "session.updated")
            done = await converse(ws, "item_before", "say: before the drop")
            reply_id = done["response"]["output"][0]["id"]
            await upstreams.abort(0)
            await upstreams.wait_for(2)
            # the new upstream session has the conversation (same item ids) ...
            retrieved = await retrieve(ws, "item_before")
            assert retrieved["type"] == "conversation.item.retrieved", retrieved
            assert retrieved["item"]["content"][0]["text"] == "say: before the drop"
            reply = await retrieve(ws, reply_id)
            assert reply["type"] == "conversation.item.retrieved", reply
            assert "before the drop" in json.dumps(reply["item"]["content"])
            # ... and the config: the client's instructions, and the host's tools (the model can call one)
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            session = (await until(ws, "session.updated"))["session"]
            assert session["instructions"] == "Be brief."
            await converse(ws, "item_after", 'testtools__lookup {"city": "Oslo"}')
            with anyio.fail_after(20):
                while True:
                    done = await until(ws, "response.done")
                    if "sunny in Oslo" in json.dumps(done["response"]["output"]):
                        break


async def test_the_session_limit_close_is_survived_and_the_client_sees_nothing_of_it(registry: Any) -> None:
    upstreams = SimUpstreams(SimConfig(speed=0, max_session_s=1.0))
    settings = ServeSettings(upstream="sim", reconnect=QUICK)
    async with serving(registry, settings, upstream=upstreams) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            seen: list[dict[str, Any]] = []
            await until(ws, "session.created", seen)
            await converse(ws, "item_1", "say: one", seen)
            first = await upstreams.wait_for(1)
            await upstreams.wait_for(2)
            assert first.ws.close_code == 1001
            assert first.ws.close_reason == "Your session hit the maximum duration of 0.0166667 minutes."
            retrieved = await retrieve(ws, "item_1")
            assert retrieved["type"] == "conversation.item.retrieved", retrieved
            done = await converse(ws, "item_2", "say: two", seen)
            assert done["response"]["status"] == "completed"
            kinds = [e["type"] for e in seen]
            assert kinds.count("session.created") == 1 and "error" not in kinds


async def test_a_rollover_before_the_limit_is_invisible_to_the_client(registry: Any) -> None:
    upstreams = SimUpstreams(SimConfig(speed=0, max_session_s=30.0))
    policy = ReconnectPolicy(rollover_after_s=0.5)
    async with serving(
        registry, ServeSettings(upstream="sim", reconnect=policy), upstream=upstreams
    ) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            seen: list[dict[str, Any]] = []
            await until(ws, "session.created", seen)
            await converse(ws, "item_1", "say: one", seen)
            await upstreams.wait_for(2)
            first = upstreams.opened[0]
            with anyio.fail_after(10):
                await first.ws.wait_closed()
            assert first.ws.close_code == 1000  # closed by serve, not by the server's limit
            retrieved = await retrieve(ws, "item_1")
            assert retrieved["type"] == "conversation.item.retrieved", retrieved
            done = await converse(ws, "item_2", "say: two", seen)
            assert done["response"]["status"] == "completed"
            kinds = [e["type"] for e in seen]
            assert kinds.count("session.created") == 1 and "error" not in kinds
            # No session.updated at all: the client sent no session.update (the host's own tools
            # update and the replayed config are answered to the host only).
            assert kinds.count("session.updated") == 0 and kinds.count("conversation.item.added") == 4


@pytest.fixture
async def gated() -> AsyncIterator[tuple[ToolRegistry, anyio.Event, list[str]]]:
    """A tool that runs until the test releases it (long-running or not, by name)."""
    server = MCPServer("gated")
    release = anyio.Event()
    runs: list[str] = []

    @server.tool()
    async def report(topic: str) -> str:
        """A long report."""
        runs.append(topic)
        await release.wait()
        return f"report on {topic} is ready"

    @server.tool()
    async def check(topic: str) -> str:
        """A quick check (that can still be slow)."""
        runs.append(topic)
        await release.wait()
        return f"{topic} checks out"

    spec = ServerSpec(name="gated", target=server, long_running=("report",))
    async with ToolRegistry([spec]) as registry:
        yield registry, release, runs


@pytest.mark.parametrize("tool", ["report", "check"], ids=["long-running", "sync"])
async def test_a_call_in_flight_at_the_drop_delivers_after_it_exactly_once(
    gated: tuple[ToolRegistry, anyio.Event, list[str]], tool: str
) -> None:
    registry, release, runs = gated
    upstreams = SimUpstreams()
    async with serving(registry, ServeSettings(upstream="sim", reconnect=QUICK), upstream=upstreams) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            seen: list[dict[str, Any]] = []
            await until(ws, "session.created", seen)
            await ws.send(user_text(f'gated__{tool} {{"topic": "tides"}}'))
            await ws.send(json.dumps({"type": "response.create"}))
            started = await until(ws, "response.mcp_call.in_progress", seen)
            await upstreams.abort(0)
            await upstreams.wait_for(2)
            release.set()
            completed = await until(ws, "response.mcp_call.completed", seen)
            assert completed["item_id"] == started["item_id"]
            with anyio.fail_after(20):
                while True:
                    done = await until(ws, "response.done", seen)
                    text = json.dumps(done["response"]["output"])
                    if "tides" in text and "Tool result" in text:
                        break
            with anyio.move_on_after(0.5):
                while True:
                    seen.append(json.loads(await ws.recv()))
    assert runs == ["tides"]  # ran once
    completions = [e for e in seen if e["type"] == "response.mcp_call.completed"]
    assert len(completions) == 1
    assert not [e for e in seen if e["type"] == "error"], [e for e in seen if e["type"] == "error"]
