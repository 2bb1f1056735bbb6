"""No silent ends, at the wire: every malformed client event is answered with an `error` event and
the connection stays open (the issue's minimal reproductions, each on a fresh session)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
import websockets
from conftest import FakeUpstream, serving
from hypothesis import given
from hypothesis import strategies as st
from test_serve_wire import instant_sim, until, user_text

from mcp_voice.serve.settings import ServeSettings
from tests.session.test_fuzz import FUZZ, STATS, client_messages

pytestmark = pytest.mark.anyio


def deep(levels: int) -> str:
    """A client event nested `levels` deep (orjson reads 1024 levels but writes only 254)."""
    return (
        '{"type":"conversation.item.create","item":{"type":"message","x":'
        + "[" * levels
        + "]" * levels
        + "}}"
    )


REPRODUCTIONS = [
    '{"type": []}',
    '{"type": {}}',
    '{"type":"conversation.item.create","item":{"type":"mcp_approval_response","approve":true,'
    '"approval_request_id":[]}}',
    '{"type":"session.update","session":{"tools":[{"type":"function","name":[]}]}}',
    '{"type":"session.update","session":{"tools":[5, {"type": []}]}}',
    '{"type":"response.create","event_id":{"a":1}}',
    deep(300),
    deep(900),
]


@pytest.mark.parametrize("raw", REPRODUCTIONS, ids=range(len(REPRODUCTIONS)))
async def test_a_malformed_client_event_gets_an_error_and_the_session_goes_on(
    registry: Any, fake_upstream: FakeUpstream, raw: str
) -> None:
    async with serving(registry, ServeSettings(upstream=fake_upstream.url)) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            await ws.send(raw)
            error = await until(ws, "error")
            assert error["error"]["type"] == "invalid_request_error", error
            # still open, and still relaying
            update = {"type": "session.update", "event_id": "evt_ok", "session": {"type": "realtime"}}
            await ws.send(json.dumps(update))
            await until(ws, "session.updated")


async def test_a_list_event_id_is_refused_before_it_reaches_the_simulator(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim"), upstream=instant_sim) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            await ws.send('{"type":"conversation.item.retrieve","item_id":"nope","event_id":["x"]}')
            error = (await until(ws, "error"))["error"]
            assert error["param"] == "event_id", error
            await ws.send(user_text("say: still here"))
            await ws.send(json.dumps({"type": "response.create"}))
            assert (await until(ws, "response.done"))["response"]["status"] == "completed"


async def test_the_session_ends_with_a_reason_when_the_upstream_goes_for_good(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    """No reconnect attempts here: the client gets an `error`, then close 1011 with a reason."""
    from mcp_voice.protocol.reconnect import ReconnectPolicy

    settings = ServeSettings(upstream=fake_upstream.url, reconnect=ReconnectPolicy(attempts=0))
    async with serving(registry, settings) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            fake_upstream.stop.set()
            seen: list[dict] = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                with anyio.fail_after(10):
                    while True:
                        seen.append(json.loads(await ws.recv()))
            assert [e["error"]["code"] for e in seen if e["type"] == "error"] == ["upstream_unavailable"]
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "upstream unavailable")


async def test_shutdown_closes_sessions_with_1001_and_a_reason(
    registry: Any, fake_upstream: FakeUpstream
) -> None:
    from mcp_voice.serve.app import create_app
    from mcp_voice.serve.run import bind_socket, running

    sock = bind_socket("127.0.0.1", 0)
    app = create_app(registry, ServeSettings(upstream=fake_upstream.url))
    async with running(app, sock) as server:
        port = sock.getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime") as ws:
            await until(ws, "session.created")
            server.should_exit = True  # what SIGTERM does
            with pytest.raises(websockets.ConnectionClosed) as closed:
                with anyio.fail_after(20):
                    while True:
                        await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "server shutting down")


@FUZZ
@given(messages=st.lists(client_messages, min_size=1, max_size=12))
async def test_fuzzed_client_messages_at_the_wire_never_end_the_session(
    registry: Any, messages: list[str]
) -> None:
    """Through serve and the simulator: whatever arrives, the socket stays open and still answers."""
    async with serving(registry, ServeSettings(upstream="sim"), upstream=instant_sim) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
            await until(ws, "session.created")
            for message in messages:
                await ws.send(message)
            await ws.send(
                json.dumps({"type": "conversation.item.retrieve", "item_id": "probe", "event_id": "evt_p"})
            )
            with anyio.fail_after(20):
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "error" and event["error"].get("event_id") == "evt_p":
                        break
    STATS["sessions through serve"] += 1
    STATS["client events through serve"] += len(messages)


async def test_malformed_upstream_events_over_a_real_socket_do_not_end_the_session(registry: Any) -> None:
    """The issue's upstream shapes, sent as JSON text by a loopback upstream (orjson reads 1024
    levels but writes 254: a deep event must not break the client's socket either)."""
    deep_value = "[" * 300 + "]" * 300
    malformed = [
        '{"type":["x"]}',
        '{"type":"error","error":"str"}',
        '{"type":"error","error":{"event_id":["x"]}}',
        '{"type":"response.created","response":"x"}',
        '{"type":"response.done","response":{"output":5}}',
        '{"type":"conversation.item.added","item":"oops"}',
        '{"type":"rate_limits.updated","rate_limits":' + deep_value + "}",
        '{"type":"conversation.item.added","item":{"id":"i","deep":' + deep_value + "}}",
        "[" * 1100 + "]" * 1100,
        "not json",
    ]

    async def upstream(ws: websockets.ServerConnection) -> None:
        session = {"type": "realtime", "object": "realtime.session", "id": "sess_x", "model": "gpt-realtime"}
        await ws.send(json.dumps({"type": "session.created", "event_id": "ev_1", "session": session}))
        async for message in ws:
            event = json.loads(message)
            if event.get("event_id") == "evt_go":
                for text in malformed:
                    await ws.send(text)
            if event.get("type") == "session.update":  # answered like a real server, the host's own too
                updated = {"type": "session.updated", "event_id": "ev_2", "session": session}
                await ws.send(json.dumps(updated))

    async with websockets.serve(upstream, "127.0.0.1", 0) as fake:
        url = f"ws://127.0.0.1:{fake.sockets[0].getsockname()[1]}/v1/realtime"
        async with serving(registry, ServeSettings(upstream=url)) as where:
            async with websockets.connect(f"ws://{where}/v1/realtime") as ws:
                await until(ws, "session.created")
                go = {"type": "session.update", "event_id": "evt_go", "session": {"type": "realtime"}}
                await ws.send(json.dumps(go))
                seen: list[dict] = []
                await until(ws, "session.updated", seen)
                assert ws.state is websockets.protocol.State.OPEN
