"""Browsers are attackers too: Host and Origin are checked at the wire before any route runs.

A page on `evil.example` can open a WebSocket to loopback (the browser says `Origin:
https://evil.example`) or rebind its name to 127.0.0.1 (the browser says `Host: evil.example`).
Both get 403 with the reason; same-origin pages, configured origins and SDK clients get in.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import websockets
from conftest import serving
from raw_http import raw_request, upgrade_headers

from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.twilio.settings import TwilioSettings

pytestmark = pytest.mark.anyio

EVIL = "https://evil.example"


async def test_cross_site_websocket_is_refused_before_the_upgrade(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim")) as where:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{where}/v1/realtime", origin=websockets.Origin(EVIL)):
                pass
        assert refused.value.response.status_code == 403
        assert b"Origin 'https://evil.example'" in refused.value.response.body
        assert b"allowed_origins" in refused.value.response.body


async def test_same_origin_and_sdk_clients_get_a_session(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim")) as where:
        for origin in (f"http://{where}", None):  # a page served by serve itself; an SDK (no Origin)
            kw = {"origin": websockets.Origin(origin)} if origin else {}
            async with websockets.connect(f"ws://{where}/v1/realtime", **kw) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"


async def test_a_configured_origin_is_admitted(registry: Any) -> None:
    settings = ServeSettings(upstream="sim", allowed_origins=("https://app.example.com",))
    async with serving(registry, settings) as where:
        good = websockets.Origin("https://APP.example.com:443")
        async with websockets.connect(f"ws://{where}/v1/realtime", origin=good) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{where}/v1/realtime", origin=websockets.Origin(EVIL)):
                pass
        assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/healthz"), ("POST", "/v1/realtime/client_secrets"), ("GET", "/metrics")]
)
async def test_dns_rebinding_host_is_refused(registry: Any, method: str, path: str) -> None:
    async with serving(registry, ServeSettings(upstream="sim")) as where:
        status, body = await raw_request(where, method, path, {"Host": "evil.example:8765"}, b"{}")
        assert status == 403
        assert "Host 'evil.example:8765'" in body and "allowed_hosts" in body
        status, body = await raw_request(where, method, path, {"Host": where}, b"{}")
        assert status == 200, body


async def test_dns_rebinding_host_is_refused_on_the_websocket(
    registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(registry, ServeSettings(upstream="sim")) as where:
        with caplog.at_level(logging.WARNING, logger="mcp_voice.serve"):
            for _ in range(3):
                status, body = await raw_request(
                    where, "GET", "/v1/realtime", upgrade_headers("evil.example")
                )
                assert status == 403 and "Host 'evil.example'" in body
    logged = [r.getMessage() for r in caplog.records if "evil.example" in r.getMessage()]
    assert len(logged) == 1  # the operator hears of it once, not once per request


async def test_loopback_names_configured_hosts_and_the_public_url_pass(registry: Any) -> None:
    settings = ServeSettings(
        upstream="sim",
        allowed_hosts=("voice.example.org",),
        twilio=TwilioSettings(public_url="https://calls.example.net"),
    )
    async with serving(registry, settings) as where:
        port = where.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"[::1]:{port}", "voice.example.org", "calls.example.net"):
            status, body = await raw_request(where, "GET", "/healthz", {"Host": host})
            assert status == 200, (host, body)
        status, _ = await raw_request(where, "GET", "/healthz", {"Host": "other.example.org"})
        assert status == 403


async def test_a_wrong_websocket_path_answers_404(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim")) as where:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{where}/v1/realtim"):
                pass
        assert refused.value.response.status_code == 404
        assert b"no WebSocket endpoint at /v1/realtim" in refused.value.response.body
