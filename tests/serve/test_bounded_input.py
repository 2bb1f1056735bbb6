"""Bounded before checked: bodies limited while they stream, half-sent heads closed, log fields cut.

All at the wire: raw sockets send what a hostile client sends (a huge declared body, a chunked
body that never ends, a request head that never ends), and the test watches what serve answers.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import anyio
import pytest
from conftest import serving
from raw_http import raw_request

from mcp_voice.serve import handshake
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.serve.twilio.settings import TwilioSettings

pytestmark = pytest.mark.anyio

ROUTES = ["/openai/webhook", "/twilio/voice", "/v1/realtime/client_secrets", "/v1/realtime/calls"]


@pytest.mark.parametrize("path", ROUTES)
async def test_a_declared_oversized_body_is_refused_unread(registry: Any, path: str) -> None:
    settings = ServeSettings(upstream="sim", max_body_bytes=4096)
    async with serving(registry, settings) as where:
        headers = {"Host": where, "Content-Length": str(200 << 20), "Connection": "close"}
        # nothing of the 200 MiB is sent: the answer comes from the head alone
        status, body = await raw_request(where, "POST", path, headers)
        assert status == 413
        assert "at most 4096 bytes" in body and "max_body_bytes" in body


def _send_chunked(where: str, path: str, total: int) -> tuple[int, int]:
    """Stream a chunked body of up to `total` bytes: (bytes sent before serve stopped us, status)."""
    host, port = where.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {where}\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"x" * 65536
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent = 0
        try:
            while sent < total:
                sock.sendall(framed)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        try:
            answer = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1") else 0
    return sent, status


async def test_a_chunked_body_is_cut_off_at_the_limit(registry: Any) -> None:
    settings = ServeSettings(upstream="sim", max_body_bytes=1 << 20)
    async with serving(registry, settings) as where:
        total = 200 << 20
        sent, status = await anyio.to_thread.run_sync(_send_chunked, where, "/openai/webhook", total)
        assert sent < total // 4, "serve kept reading past its limit"
        assert status in (413, 0)  # the 413 may be lost in the reset of a socket still sending
        status, _ = await raw_request(where, "GET", "/healthz", {"Host": where, "Connection": "close"})
        assert status == 200  # and it serves on


async def test_a_body_within_the_limit_reaches_the_route(registry: Any) -> None:
    async with serving(registry, ServeSettings(upstream="sim", max_body_bytes=4096)) as where:
        body = b'{"expires_after": {"anchor": "created_at", "seconds": 60}}'
        headers = {"Host": where, "Content-Type": "application/json", "Connection": "close"}
        status, text = await raw_request(where, "POST", "/v1/realtime/client_secrets", headers, body)
        assert status == 200 and '"value":"ek_' in text.replace(" ", "")


async def test_a_half_sent_request_head_is_closed(registry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handshake.HeadTimeoutProtocol, "head_timeout_s", 1.0)

    def hold(where: str, partial: bytes) -> float:
        host, port = where.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=15) as sock:
            sock.sendall(partial)
            began = time.monotonic()
            assert sock.recv(1024) == b""  # closed by serve, nothing answered
            return time.monotonic() - began

    async with serving(registry, ServeSettings(upstream="sim")) as where:
        for partial in (
            b"GET /healthz HTTP/1.1\r\nHost: x",
            b"GET /v1/realtime HTTP/1.1\r\nUpgrade: websocket\r\n",
            b"",
        ):
            waited = await anyio.to_thread.run_sync(hold, where, partial)
            assert waited < 10, partial


async def test_a_caller_supplied_call_sid_is_cut_in_the_log(
    registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    twilio = TwilioSettings(public_url="https://calls.example.net", auth_token="twilio-token")
    async with serving(registry, ServeSettings(upstream="sim", twilio=twilio)) as where:
        body = b"CallSid=" + b"C" * 900_000
        headers = {"Host": where, "Content-Type": "application/x-www-form-urlencoded", "Connection": "close"}
        with caplog.at_level(logging.WARNING, logger="mcp_voice.serve.twilio"):
            status, _ = await raw_request(where, "POST", "/twilio/voice", headers, body)
    assert status == 403
    [line] = [r.getMessage() for r in caplog.records if "voice webhook" in r.getMessage()]
    assert "C" * 64 in line and len(line) < 200
