"""Serve test helpers: an in-process serve on loopback, a recording fake upstream, the subprocess."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from anyio.abc import Process

from mcp_voice.serve.app import create_app
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.tools.spec import ServerSpec

HERE = Path(__file__).parent
TOOL_SERVER = HERE / "tool_server.py"
MCP_VOICE = Path(sys.executable).with_name("mcp-voice")
STARTUP_S = 60
"""Generous: a loaded 2-core machine may take seconds to import and start a serve process."""


def tool_specs() -> list[ServerSpec]:
    from tool_server import server

    return [ServerSpec(name="testtools", target=server, long_running=("slow_report",))]


@pytest.fixture
async def registry() -> AsyncIterator[Any]:
    from mcp_voice.tools.registry import ToolRegistry

    async with ToolRegistry(tool_specs()) as registry:
        yield registry


@asynccontextmanager
async def serving(registry: Any, settings: ServeSettings, **kw: Any) -> AsyncIterator[str]:
    """Serve the app on 127.0.0.1:<free port>; yields "127.0.0.1:PORT"."""
    sock = bind_socket("127.0.0.1", 0)
    async with running(create_app(registry, settings, **kw), sock):
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class FakeUpstream:
    """A loopback GA server that records what serve sent it: request path, headers, events."""

    port: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    stop: anyio.Event = field(default_factory=anyio.Event)
    """Set it to close every connection (and refuse new ones): the upstream has gone."""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    async def handler(self, ws: websockets.ServerConnection) -> None:
        if self.stop.is_set():
            await ws.close(1011, "gone")
            return
        async with anyio.create_task_group() as tg:

            async def close_on_stop() -> None:
                await self.stop.wait()
                await ws.close(1001, "going away")

            tg.start_soon(close_on_stop)
            try:
                await self._serve(ws)
            except websockets.ConnectionClosed:
                pass
            tg.cancel_scope.cancel()

    async def _serve(self, ws: websockets.ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append((ws.request.path, {k.lower(): v for k, v in ws.request.headers.raw_items()}))
        session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_fake",
            "model": "gpt-realtime",
        }
        await ws.send(json.dumps({"type": "session.created", "event_id": "ev_1", "session": session}))
        async for message in ws:
            event = json.loads(message)
            self.events.append(event)
            if event.get("type") == "session.update":
                updated = {**session, **event.get("session", {})}
                await ws.send(json.dumps({"type": "session.updated", "event_id": "ev_2", "session": updated}))


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    async with websockets.serve(fake.handler, "127.0.0.1", 0) as server:
        fake.port = server.sockets[0].getsockname()[1]
        yield fake


async def http_get(url: str) -> tuple[int, str]:
    """GET with the standard library (in a thread): status and body text."""

    def get() -> tuple[int, str]:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode()

    return await anyio.to_thread.run_sync(get)


async def read_line(process: Process) -> str:
    """The first stdout line of a process (bytes up to the newline)."""
    assert process.stdout is not None
    data = b""
    with anyio.fail_after(STARTUP_S):
        while not data.endswith(b"\n"):
            try:
                data += await process.stdout.receive(1)
            except anyio.EndOfStream:
                break
    return data.decode()


async def read_all(stream: anyio.abc.ByteReceiveStream | None) -> str:
    """Everything up to EOF."""
    assert stream is not None
    data = b""
    with anyio.fail_after(STARTUP_S):
        try:
            while True:
                data += await stream.receive()
        except anyio.EndOfStream:
            pass
    return data.decode()


@asynccontextmanager
async def serve_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> AsyncIterator[tuple[Process, str]]:
    """`mcp-voice serve ARGS` as a real subprocess; yields it and its first stdout line."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MCP_VOICE_TOKEN")}
    # Only the config's servers: the installed plugins would add their tools to every count.
    full_env["MCP_VOICE_PLUGINS"] = ""
    full_env.update(env or {})
    process = await anyio.open_process([str(MCP_VOICE), "serve", *args], env=full_env, cwd=cwd)
    try:
        yield process, await read_line(process)
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.fail_after(30):
                await process.wait()
        await process.aclose()


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """A config whose only tools are tool_server.py's (stdio), with slow_report long-running."""
    path = tmp_path / "mcp-voice.toml"
    path.write_text(
        "[servers.testtools]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(TOOL_SERVER))}]\n"
        'long_running = ["slow_report"]\n' + extra
    )
    return path
