"""Graceful drain of a real `mcp-voice serve` process: SIGTERM stops new sessions, not live ones."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.error
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from conftest import http_get, read_all, serve_process, write_config
from twilio_wire import call as twilio_call

pytestmark = pytest.mark.anyio

LINE = re.compile(r"ws://127\.0\.0\.1:(\d+)/v1/realtime")


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        status, body = await http_get(f"http://127.0.0.1:{port}/readyz")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    return status, json.loads(body)


async def until_unready(port: int) -> tuple[int, dict[str, Any]]:
    """/readyz once it answers 503 (the signal is handled within uvicorn's 0.1 s tick)."""
    with anyio.fail_after(10):
        while True:
            answer = await readyz(port)
            if answer[0] == 503:
                return answer
            await anyio.sleep(0.05)


async def recv(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event


async def test_sigterm_drains_then_exits_when_the_last_session_ends(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[serve]\ndrain_s = 60\n")
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (proc, line):
        port = int(LINE.search(line).group(1))  # type: ignore[union-attr]
        assert (await readyz(port))[0] == 200
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        async with websockets.connect(url) as live:
            await recv(live, "session.created")
            proc.send_signal(signal.SIGTERM)
            answer = await until_unready(port)
            assert answer[1]["draining"] is True and answer[1]["sessions"] == 1
            assert "draining" in answer[1]["reasons"][0]

            # a new session is told and refused with 1013
            async with websockets.connect(url) as late:
                error = await recv(late, "error")
                assert error["error"]["code"] == "server_draining"
                with pytest.raises(websockets.ConnectionClosed):
                    await late.recv()
            assert late.close_code == 1013 and late.close_reason == "server draining"

            # the live session goes on
            await live.send(json.dumps({"type": "session.update", "session": {"instructions": "go on"}}))
            updated = await recv(live, "session.updated")
            assert updated["session"]["instructions"] == "go on"
            assert proc.returncode is None
        started = time.monotonic()
        with anyio.fail_after(20):
            assert await proc.wait() == 0  # the last session ended: the process exits
        assert time.monotonic() - started < 10
        assert "mcp-voice: draining:" in await read_all(proc.stderr)


async def test_drain_time_passed_closes_live_sessions_with_1001(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[serve]\ndrain_s = 1.5\n")
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (proc, line):
        port = int(LINE.search(line).group(1))  # type: ignore[union-attr]
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime") as live:
            await recv(live, "session.created")
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(20), pytest.raises(websockets.ConnectionClosed):
                while True:
                    await live.recv()
        assert live.close_code == 1001 and live.close_reason == "server draining: drain time passed"
        with anyio.fail_after(20):
            assert await proc.wait() == 0


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
async def test_a_second_signal_stops_at_once(tmp_path: Path, second: signal.Signals) -> None:
    config = write_config(tmp_path, "[serve]\ndrain_s = 120\n")
    async with serve_process("--port", "0", "--upstream", "sim", "--config", str(config)) as (proc, line):
        port = int(LINE.search(line).group(1))  # type: ignore[union-attr]
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime") as live:
            await recv(live, "session.created")
            proc.send_signal(signal.SIGTERM)
            await until_unready(port)
            proc.send_signal(second)
            with anyio.fail_after(10), pytest.raises(websockets.ConnectionClosed):
                while True:
                    await live.recv()
        assert live.close_code == 1001 and live.close_reason
        with anyio.fail_after(10):
            assert await proc.wait() == 0


async def test_drain_time_passed_closes_a_twilio_media_stream_with_1001(tmp_path: Path) -> None:
    """A phone call is a session like a relay socket: at the drain's end its stream closes with the reason."""
    config = write_config(tmp_path, "[serve]\ndrain_s = 1.5\n")
    args = (
        "--port",
        "0",
        "--upstream",
        "sim",
        "--config",
        str(config),
        "--public-url",
        "https://phone.example.test",
    )
    async with serve_process(*args, env={"TWILIO_AUTH_TOKEN": ""}) as (proc, line):
        port = int(LINE.search(line).group(1))  # type: ignore[union-attr]
        async with twilio_call(f"127.0.0.1:{port}") as caller:
            await caller.start()
            with anyio.fail_after(20):
                while (await readyz(port))[1]["sessions"] != 1:  # noqa: ASYNC110 (another process)
                    await anyio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(20), pytest.raises(websockets.ConnectionClosed):
                while True:
                    await caller.ws.recv()
        assert caller.ws.close_code == 1001
        assert caller.ws.close_reason == "server draining: drain time passed"
        with anyio.fail_after(20):
            assert await proc.wait() == 0
