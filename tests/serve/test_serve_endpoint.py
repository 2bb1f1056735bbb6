"""The /v1/realtime endpoint and /healthz, served in-process on loopback, seen from the wire."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import websockets
from conftest import FakeUpstream, http_get, serving

from mcp_voice.serve.settings import ServeSettings

pytestmark = pytest.mark.anyio

UPSTREAM_KEY = "sk-upstream-SECRET-4f1a"
CLIENT_KEY = "client-key-7c2e"


async def events_until(ws: websockets.ClientConnection, kind: str) -> list[dict[str, Any]]:
    seen = []
    with anyio.fail_after(20):
        while True:
            event = json.loads(await ws.recv())
            seen.append(event)
            if event["type"] == kind:
                return seen


async def test_healthz_reports_upstream_and_tools_without_secrets(registry: Any) -> None:
    settings = ServeSettings(upstream="sim", api_key=UPSTREAM_KEY, token="tok-SECRET")
    async with serving(registry, settings) as where:
        status, text = await http_get(f"http://{where}/healthz")
    assert status == 200
    body = json.loads(text)
    assert body["status"] == "ok"
    assert body["upstream"] == "sim"
    assert body["tools"] == 2
    assert body["auth"] is True
    assert UPSTREAM_KEY not in text and "tok-SECRET" not in text


@pytest.mark.parametrize(
    "how", ["header", "query", "subprotocol"], ids=["bearer-header", "query-token", "browser-subprotocol"]
)
async def test_token_accepted(registry: Any, how: str) -> None:
    kw: dict[str, Any] = {}
    url_suffix = ""
    if how == "header":
        kw["additional_headers"] = {"Authorization": "Bearer tok"}
    elif how == "query":
        url_suffix = "&token=tok"
    else:
        kw["subprotocols"] = ["realtime", "openai-insecure-api-key.tok"]
    async with serving(registry, ServeSettings(upstream="sim", token="tok")) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime?model=gpt-realtime{url_suffix}", **kw) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "session.created"
            if how == "subprotocol":
                assert ws.subprotocol == "realtime"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["missing", "wrong"])
async def test_token_refused_before_upgrade(registry: Any, headers: dict[str, str]) -> None:
    async with serving(registry, ServeSettings(upstream="sim", token="tok")) as where:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{where}/v1/realtime", additional_headers=headers):
                pass
    assert refused.value.response.status_code == 401


async def test_unreachable_upstream_is_explained_then_closed(registry: Any) -> None:
    sock_port = _free_port()
    settings = ServeSettings(upstream=f"ws://127.0.0.1:{sock_port}/v1/realtime", api_key=UPSTREAM_KEY)
    async with serving(registry, settings) as where, websockets.connect(f"ws://{where}/v1/realtime") as ws:
        with anyio.fail_after(20):
            error = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
    assert error["type"] == "error"
    assert error["error"]["code"] == "upstream_unavailable"
    assert f"127.0.0.1:{sock_port}" in error["error"]["message"]
    assert UPSTREAM_KEY not in json.dumps(error)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


async def test_failing_opener_is_reported_to_a_beta_client_too(registry: Any) -> None:
    @asynccontextmanager
    async def broken(target: str, *, model: str, api_key: str | None = None):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError(f"no route ({api_key})")
        yield

    settings = ServeSettings(upstream="ws://upstream.invalid", api_key=UPSTREAM_KEY)
    async with serving(registry, settings, upstream=broken) as where:
        headers = {"OpenAI-Beta": "realtime=v1"}
        async with websockets.connect(f"ws://{where}/v1/realtime", additional_headers=headers) as ws:
            with anyio.fail_after(20):
                error = json.loads(await ws.recv())
    assert error["type"] == "error" and "ConnectionRefusedError" in error["error"]["message"]
    assert UPSTREAM_KEY not in json.dumps(error)


async def test_keys_stay_on_their_side(registry: Any, fake_upstream: FakeUpstream) -> None:
    """The upstream key goes upstream only; the client's key never leaves serve."""
    settings = ServeSettings(upstream=fake_upstream.url, api_key=UPSTREAM_KEY)
    async with serving(registry, settings) as where:
        url = f"ws://{where}/v1/realtime?model=gpt-test-model"
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {CLIENT_KEY}"}
        ) as ws:
            seen = await events_until(ws, "session.created")
            await ws.send(
                json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}})
            )
            seen += await events_until(ws, "session.updated")
        _, health = await http_get(f"http://{where}/healthz")

    [(path, headers)] = fake_upstream.requests
    assert path == "/v1/realtime?model=gpt-test-model"
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in json.dumps(headers) and CLIENT_KEY not in json.dumps(fake_upstream.events)
    assert UPSTREAM_KEY not in json.dumps(seen) and UPSTREAM_KEY not in health


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
