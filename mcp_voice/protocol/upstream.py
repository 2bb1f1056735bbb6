"""Upstream connections: a realtime model server, always over a real WebSocket.

`connect_upstream(url, headers)` yields an `EventChannel` of GA events; `resolve_target` turns
"openai" or a ws(s):// URL into that URL and its headers. Which upstream to use (OpenAI, the
embedded simulator, the local voice) is chosen above this layer, in `mcp_voice.upstreams`, so
the protocol knows no simulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mcp_voice.channels import ChannelClosed
from mcp_voice.protocol.shapes import ShapeLog, server_event_problem

if TYPE_CHECKING:
    from mcp_voice.channels import Event

OPENAI_REALTIME_URL = "wss://api.openai.com/v1/realtime"
MAX_MESSAGE_BYTES = 32 * 2**20
"""Generous: a single `input_audio_buffer.append` may carry 15 MiB of base64 audio."""
OPEN_TIMEOUT_S = 15.0


class UpstreamError(Exception):
    """The upstream target cannot be used as given (unknown target, missing key)."""


class WebSocketUpstream:
    """An `EventChannel` over a websockets client connection of JSON text frames.

    Where upstream events enter: `receive` returns only events that passed `server_event_problem`
    (everything downstream reads them unchecked); the rest are dropped, logged once per shape.
    """

    events_checked = True

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.shapes = ShapeLog()

    async def send(self, event: Event | str) -> None:
        try:
            if isinstance(event, str):
                await self.ws.send(event)
            else:  # orjson gives UTF-8 bytes; text=True sends them as a text frame without a decode
                await self.ws.send(orjson.dumps(event), text=True)
        except ConnectionClosed as exc:
            raise ChannelClosed(_describe(exc)) from exc

    async def receive(self) -> Event | str:
        while True:
            try:
                message = await self.ws.recv()
            except ConnectionClosed as exc:
                raise ChannelClosed(_describe(exc)) from exc
            try:
                event = orjson.loads(message)
            except orjson.JSONDecodeError:
                self.shapes.dropped("not JSON")
                continue
            problem = server_event_problem(event)
            if problem is None:
                return event  # type: ignore[no-any-return]
            self.shapes.dropped(problem)

    async def aclose(self) -> None:
        await self.ws.close()

    @property
    def close_code(self) -> int | None:
        """Why the upstream closed (e.g. 4000 for OpenAI's `beta_api_shape_disabled`), once closed."""
        return self.ws.close_code


def _describe(exc: ConnectionClosed) -> str:
    rcvd = exc.rcvd
    if rcvd is None:
        return "upstream connection closed"
    return f"upstream closed the connection: {rcvd.code} {rcvd.reason}".rstrip()


def with_model(url: str, model: str) -> str:
    """`url` with `?model=` appended unless its query already names a model."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "model" for key, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("model", model)])))


def resolve_target(target: str, model: str, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The URL and headers for a non-simulator target; raises `UpstreamError` before any network."""
    headers: dict[str, str] = {}
    if target == "openai":
        if not api_key:
            raise UpstreamError(
                "upstream 'openai' needs an API key (set OPENAI_API_KEY, or use the simulator)"
            )
        url = with_model(OPENAI_REALTIME_URL, model)
    elif urlsplit(target).scheme in ("ws", "wss") and urlsplit(target).netloc:
        url = with_model(target, model)
    else:
        raise UpstreamError(
            f"unknown upstream {target!r}: use 'openai', 'sim', 'local', or a ws:// or wss:// URL"
        )
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return url, headers


@asynccontextmanager
async def connect_upstream(url: str, headers: Mapping[str, str]) -> AsyncIterator[WebSocketUpstream]:
    """A GA event channel over a WebSocket to `url` (any realtime server, or a call's sideband)."""
    async with connect(
        url,
        additional_headers=dict(headers),
        max_size=MAX_MESSAGE_BYTES,
        compression=None,
        open_timeout=OPEN_TIMEOUT_S,
        max_queue=256,
    ) as ws:
        yield WebSocketUpstream(ws)
