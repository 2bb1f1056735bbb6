"""The simulator's WebSocket server: `run_simulator()` serves `/v1/realtime` on a real socket.

Each connection is its own session (`SimConnection`); nothing is shared between them. Like
OpenAI since 2026, a client that announces the beta dialect is refused (close code 4000), so a
host that forwards beta events upstream is caught in tests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from mcp_voice.protocol.dialects import dialect_from_headers
from mcp_voice.protocol.events import error_event
from mcp_voice.sim.config import SimConfig
from mcp_voice.sim.connection import SimConnection
from mcp_voice.sim.limits import close_at_max_duration

MAX_MESSAGE_BYTES = 32 * 2**20
DEFAULT_MODEL = "gpt-realtime"
BETA_REFUSED = 4000


@dataclass
class Simulator:
    """A running simulator: where to connect, and how many sessions are open."""

    host: str
    port: int
    config: SimConfig
    sessions: int = 0
    server: Server | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/v1/realtime"


@asynccontextmanager
async def run_simulator(
    host: str = "127.0.0.1", port: int = 0, config: SimConfig | None = None
) -> AsyncIterator[Simulator]:
    """Serve the simulator in this event loop for the life of the block (port 0: any free port)."""
    sim = Simulator(host, port, config or SimConfig())

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if not urlsplit(request.path).path.rstrip("/").endswith("/realtime"):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found: connect to /v1/realtime\n")
        key = sim.config.api_key
        if key and request.headers.get("Authorization") != f"Bearer {key}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or missing API key\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        if dialect_from_headers(request.headers) == "beta":
            await ws.send(_beta_refusal())
            await ws.close(BETA_REFUSED, "beta_api_shape_disabled")
            return
        model = parse_qs(urlsplit(request.path).query).get("model", [DEFAULT_MODEL])[0]
        sim.sessions += 1
        try:
            async with anyio.create_task_group() as limits:
                if sim.config.max_session_s is not None:
                    limits.start_soon(close_at_max_duration, ws, sim.config.max_session_s)
                await SimConnection(ws, sim.config, model).run()
                limits.cancel_scope.cancel()
        finally:
            sim.sessions -= 1

    async with serve(
        handler,
        host,
        port,
        process_request=check,
        max_size=MAX_MESSAGE_BYTES,
        compression=None,
        max_queue=256,
    ) as server:
        sim.server = server
        sim.port = server.sockets[0].getsockname()[1] if port == 0 else port
        yield sim


def _beta_refusal() -> str:
    event = error_event(
        "The beta Realtime API shape is disabled; connect without 'OpenAI-Beta: realtime=v1'.",
        code="beta_api_shape_disabled",
    )
    return json.dumps(event)
