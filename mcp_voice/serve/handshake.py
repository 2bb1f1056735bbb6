"""Half-sent request heads are closed: a connection that never finishes its head holds an fd forever.

uvicorn's keep-alive timeout starts only after a first response, and nothing bounds the time a
client may take to send a request head (an HTTP request or a WebSocket handshake). 2,000 such
connections held open stall every other client once the fd limit is reached. `HeadTimeoutProtocol`
is uvicorn's h11 protocol with one timer: from the connection (or the end of the previous
response) to a complete head, at most `HEAD_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

HEAD_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
"""Idle keep-alive connections are closed after this (uvicorn's default, stated on purpose)."""
MAX_HEAD_BYTES = 16 * 1024
"""A request head (line + headers) larger than this is refused by h11 with 400."""


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head is not complete in time."""

    head_timeout_s = HEAD_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on a kept-alive connection gets the same bound

    def _arm(self) -> None:
        self.loop.call_later(self.head_timeout_s, self._head_timeout, self.cycle)

    def _head_timeout(self, cycle: RequestResponseCycle | None) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return  # closed, or upgraded to a WebSocket: its head was complete
        if self.cycle is not cycle:
            return  # a new request's head arrived
        if cycle is not None and not cycle.response_complete:
            return  # a request is being answered (its body, if slow, is BodyLimit's to bound)
        transport.close()


def uvicorn_limits() -> dict[str, Any]:
    """The `uvicorn.Config` options every server of mcp-voice runs with (serve and `mcp-voice mcp`)."""
    return {
        "http": HeadTimeoutProtocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }
