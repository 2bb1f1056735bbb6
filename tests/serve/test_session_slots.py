"""`max_sessions` counts every transport, and a replayed Twilio start is refused, at the wire.

A captured Twilio signature opens media streams at will (the URL is fixed): without one count,
`max_sessions = 2` held back relay sockets only. Here a relay session and a phone call share the
limit, /healthz shows the one number, and a second stream naming a live streamSid/CallSid is
closed with a reason.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
import websockets
from conftest import http_get, serving
from twilio_wire import PUBLIC_URL, TwilioCaller, call

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.twilio.settings import TwilioSettings

pytestmark = pytest.mark.anyio


def settings(max_sessions: int) -> ServeSettings:
    return ServeSettings(
        upstream="sim", max_sessions=max_sessions, twilio=TwilioSettings(public_url=PUBLIC_URL)
    )


async def closed_with(caller: TwilioCaller) -> tuple[int, str]:
    with anyio.fail_after(20), pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await caller.ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def sessions(where: str) -> int:
    _, body = await http_get(f"http://{where}/healthz")
    return int(json.loads(body)["sessions"])


async def until_sessions(where: str, count: int) -> None:
    """Poll /healthz (the number a readiness check reads) until it shows `count`."""
    with anyio.fail_after(20):
        for _ in range(400):
            if await sessions(where) == count:
                return
            await anyio.sleep(0.05)
    raise AssertionError(f"/healthz never showed {count} sessions")


async def test_a_phone_call_counts_against_max_sessions(registry: Any) -> None:
    async with serving(registry, settings(1)) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime") as relay:
            assert json.loads(await relay.recv())["type"] == "session.created"
            assert await sessions(where) == 1
            async with call(where) as caller:
                await caller.start()
                assert await closed_with(caller) == (1013, "too many sessions")


async def test_a_relay_session_counts_behind_a_phone_call(registry: Any) -> None:
    async with serving(registry, settings(1)) as where, call(where) as caller:
        await caller.start()
        await until_sessions(where, 1)
        async with websockets.connect(f"ws://{where}/v1/realtime") as relay:
            error = json.loads(await relay.recv())
            assert error["type"] == "error" and error["error"]["code"] == "session_limit_reached"


async def test_a_replayed_start_for_a_live_stream_is_refused(registry: Any) -> None:
    async with serving(registry, settings(5)) as where, call(where) as first:
        await first.start()
        await until_sessions(where, 1)
        async with call(where) as replay:
            await replay.start()
            assert await closed_with(replay) == (1008, "this stream or call is already live")
        assert await sessions(where) == 1  # the first call goes on
