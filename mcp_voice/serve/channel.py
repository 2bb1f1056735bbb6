"""A client WebSocket (Starlette/ASGI) seen as an `EventChannel`, the only thing the host needs.

This sits on the audio hot path (one event per 20 ms frame each way), so it talks raw ASGI
messages and does not parse what it receives: the host parses each event once and forwards an
unchanged `input_audio_buffer.append` upstream as the very text the client sent.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import Receive, Send

from mcp_voice.channels import ChannelClosed, Event


class WebSocketChannel:
    """An accepted ASGI WebSocket (its `receive`/`send`) as an `EventChannel` of JSON text frames."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.client_closed = False
        """True once the client disconnected (as opposed to the session ending on our side)."""
        self.closing: Callable[[], tuple[int, str]] = lambda: (1000, "session ended")
        """The close code and reason `aclose()` gives, asked when it closes (the session knows why)."""
        self._closed = False

    async def send(self, event: Event | str) -> None:
        if self._closed:
            raise ChannelClosed
        text = event if isinstance(event, str) else orjson.dumps(event).decode()
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError) as exc:  # uvicorn: ClientDisconnected (OSError), or after close
            self._closed = self.client_closed = True
            raise ChannelClosed from exc

    async def receive(self) -> Event | str:
        if self._closed:
            raise ChannelClosed
        message = await self._receive()
        if message["type"] != "websocket.receive":
            self._closed = self.client_closed = True
            raise ChannelClosed
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            try:
                text = data.decode()
            except UnicodeDecodeError:
                return repr(data[:64])
        return text

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket with a code (once; no-op after the client has gone)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except (OSError, RuntimeError):
            pass

    async def aclose(self) -> None:
        await self.close(*self.closing())
