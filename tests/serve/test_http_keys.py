"""HTTP keys only in the `Authorization` header: `?token=` is refused (401 saying so) on every HTTP
route, and keeps working for WebSocket clients that cannot set headers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from conftest import serving
from test_serve_keys import bearer, http

from mcp_voice.serve.settings import ServeSettings

pytestmark = pytest.mark.anyio

KEY = "key-http-only-4f2a"


@pytest.mark.parametrize(("method", "path"), [("GET", "/metrics"), ("POST", "/v1/realtime/client_secrets")])
async def test_a_key_in_the_query_is_refused_on_http(registry: Any, method: str, path: str) -> None:
    async with serving(registry, ServeSettings(upstream="sim", api_keys=(KEY,))) as where:
        body = {} if method == "POST" else None
        status, text = await http(method, f"http://{where}{path}?token={KEY}", body)
        assert status == 401
        assert "Authorization: Bearer" in text and "?token=" in text
        status, _ = await http(method, f"http://{where}{path}", body, bearer(KEY))
        assert status == 200


async def test_a_key_in_the_query_still_opens_a_websocket(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim", api_keys=(KEY,))) as where:
        async with websockets.connect(f"ws://{where}/v1/realtime?token={KEY}") as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
