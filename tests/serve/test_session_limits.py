"""Fair, bounded resources at the wire: one session can neither starve another nor grow without bound."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import websockets
from conftest import FakeUpstream, serving
from mcp.server import MCPServer
from test_serve_wire import instant_sim, until, user_text

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.host import HostSettings
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[ToolRegistry, anyio.Event, list[str], anyio.Event]]:
    """One server (the default max_concurrency of 4) with a tool that hangs and one that answers."""
    server = MCPServer("shared")
    release = anyio.Event()
    hung: list[str] = []
    three_hang = anyio.Event()

    @server.tool()
    async def hang(n: int) -> str:
        """Waits for a very slow backend."""
        hung.append(str(n))
        if len(hung) == 3:
            three_hang.set()
        await release.wait()
        return "finally"

    @server.tool()
    async def quick(city: str) -> str:
        """Answers at once."""
        return f"quick answer for {city}"

    async with ToolRegistry([ServerSpec(name="shared", target=server)]) as registry:
        yield registry, release, hung, three_hang
        release.set()


async def test_four_hanging_calls_in_one_session_do_not_hold_another_sessions_call(
    hanging: tuple[ToolRegistry, anyio.Event, list[str], anyio.Event],
) -> None:
    registry, release, hung, three_hang = hanging
    async with serving(registry, ServeSettings(upstream="sim"), upstream=instant_sim) as where:
        url = f"ws://{where}/v1/realtime"
        async with websockets.connect(url) as greedy, websockets.connect(url) as other:
            await until(greedy, "session.created")
            await until(other, "session.created")
            await greedy.send(user_text('shared__hang {"n": 1}'))
            for _ in range(4):
                await greedy.send(json.dumps({"type": "response.create"}))
            await until(greedy, "response.mcp_call.in_progress")
            # The client sees the later calls only once the first one ends (hosted-MCP order holds
            # the events after a calling response): watch the server side instead.
            with anyio.fail_after(20):
                await three_hang.wait()
            # the other session's quick call is answered while all four still hang
            await other.send(user_text('shared__quick {"city": "Lima"}'))
            await other.send(json.dumps({"type": "response.create"}))
            with anyio.fail_after(20):
                completed = await until(other, "response.mcp_call.completed")
            assert completed["type"] == "response.mcp_call.completed"
            assert not release.is_set()
            assert len(hung) == 3  # this session's share: its fourth call waits its turn, in its session
            release.set()
            for _ in range(4):
                await until(greedy, "response.mcp_call.completed")


async def test_queued_response_creates_are_bounded(registry: Any, fake_upstream: FakeUpstream) -> None:
    settings = ServeSettings(upstream=fake_upstream.url, host=HostSettings(max_queued_responses=3))
    async with serving(registry, settings) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            for n in range(6):  # never acknowledged by this upstream: one pending, three queued
                await ws.send(json.dumps({"type": "response.create", "event_id": f"evt_{n}"}))
            errors = [(await until(ws, "error"))["error"] for _ in range(2)]
            assert [(e["code"], e["event_id"]) for e in errors] == [
                ("too_many_queued_responses", "evt_4"),
                ("too_many_queued_responses", "evt_5"),
            ]
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await until(ws, "session.updated")  # still open


def commits(fake: FakeUpstream) -> list[dict[str, Any]]:
    return [e for e in fake.events if e["type"] == "input_audio_buffer.commit"]


async def test_an_event_flood_is_refused_with_an_error_and_the_session_goes_on(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    settings = ServeSettings(upstream=fake_upstream.url, host=HostSettings(max_events_per_s=5.0))
    async with serving(registry, settings) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            for _ in range(40):  # audio is not counted: it passes straight through
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}))
            for _ in range(40):
                await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            refused = 0
            with anyio.fail_after(10):  # every commit is either forwarded or answered with an error
                while refused + len(commits(fake_upstream)) < 40:
                    with anyio.move_on_after(0.05):  # (the fake upstream may still be reading)
                        error = (await until(ws, "error"))["error"]
                        assert (
                            error["code"] == "rate_limit_exceeded" and "5 events a second" in error["message"]
                        )
                        refused += 1
            assert ws.state is websockets.protocol.State.OPEN
    assert 10 <= len(commits(fake_upstream)) < 40  # a burst of twice the rate passed; the rest did not
    assert len([e for e in fake_upstream.events if e["type"] == "input_audio_buffer.append"]) == 40


async def test_a_message_over_the_size_limit_gets_an_error_then_close_1009(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    settings = ServeSettings(upstream=fake_upstream.url, host=HostSettings(max_message_bytes=1000))
    async with serving(registry, settings) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 2000}))
            error = (await until(ws, "error"))["error"]
            assert error["code"] == "message_too_large" and "1000" in error["message"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                with anyio.fail_after(10):
                    await ws.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1009, "message too big")


async def test_sessions_beyond_the_limit_get_an_error_and_close_1013(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    settings = ServeSettings(upstream=fake_upstream.url, max_sessions=1)
    async with serving(registry, settings) as where:
        url = f"ws://{where}/v1/realtime"
        async with websockets.connect(url) as first:
            await until(first, "session.created")
            async with websockets.connect(url) as second:
                error = json.loads(await second.recv())
                assert error["type"] == "error" and error["error"]["code"] == "session_limit_reached"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    with anyio.fail_after(10):
                        await second.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            await first.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await until(first, "session.updated")  # the first is untouched


async def test_a_huge_tool_result_is_cut_before_it_is_injected(fake_upstream: FakeUpstream) -> None:
    server = MCPServer("big")

    @server.tool()
    async def dump(size: int) -> str:
        """A very long result."""
        return "x" * size

    settings = ServeSettings(upstream="sim", host=HostSettings(max_result_chars=500))
    async with ToolRegistry([ServerSpec(name="big", target=server)]) as registry:
        async with serving(registry, settings, upstream=instant_sim) as where:
            async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
                await until(ws, "session.created")
                await ws.send(user_text('big__dump {"size": 200000}'))
                await ws.send(json.dumps({"type": "response.create"}))
                done = await until(ws, "conversation.item.done")
                while done["item"].get("type") != "mcp_call" or done["item"].get("output") is None:
                    done = await until(ws, "conversation.item.done")
    output = done["item"]["output"]
    assert len(output) < 700 and "199500 more characters were left out" in output
