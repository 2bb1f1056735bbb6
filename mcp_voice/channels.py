"""Event channels: how the session host talks to a client and to an upstream, whatever the transport.

A relay WebSocket, a phone stream and an embedding program each hand the host an `EventChannel`;
the host never knows which. Events are GA-shaped dicts; a client channel may also deliver the raw
text it received, so the host can answer malformed JSON with an `error` event.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

Event = dict[str, Any]


class ChannelClosed(Exception):
    """The other side has gone; `receive` raises it once nothing more will arrive."""


class EventChannel(Protocol):
    """One side of a realtime conversation."""

    async def send(self, event: Event | str) -> None:
        """Deliver one event: a dict, or already-encoded JSON text, which is sent verbatim.

        The host forwards a client's raw text (audio appends, most of the traffic) without
        parsing it. Raises `ChannelClosed` if the other side has gone.
        """
        ...

    async def receive(self) -> Event | str:
        """The next event (a dict), or raw text that has not been parsed. Raises `ChannelClosed`."""
        ...

    async def aclose(self) -> None: ...


class MemoryChannel:
    """An in-memory `EventChannel`; `channel_pair()` makes two that talk to each other."""

    def __init__(
        self, send: MemoryObjectSendStream[Event | str], receive: MemoryObjectReceiveStream[Event | str]
    ) -> None:
        self._send = send
        self._receive = receive

    async def send(self, event: Event | str) -> None:
        try:
            await self._send.send(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise ChannelClosed from exc

    async def receive(self) -> Event | str:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise ChannelClosed from exc

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def channel_pair() -> tuple[MemoryChannel, MemoryChannel]:
    """Two connected channels: what one sends, the other receives. Unbounded, so sends never block."""
    a_send, b_receive = anyio.create_memory_object_stream[Event | str](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[Event | str](math.inf)
    return MemoryChannel(a_send, a_receive), MemoryChannel(b_send, b_receive)
