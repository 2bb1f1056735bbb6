"""Per-session limits: what one client may ask of the process, so it can never starve another.

The per-server `max_concurrency` protects a tool server; these protect the other sessions. Each
breach is answered with a GA `error` event naming the limit; the session goes on.
"""

from __future__ import annotations

import anyio

from mcp_voice.protocol.events import error_event

Event = dict[str, object]

CLOSE_TOO_BIG = 1009
"""WebSocket close code for a message over the size limit (RFC 6455 "Message Too Big")."""


class EventRate:
    """A token bucket: `rate` events a second on average, bursts of `burst`. Refusals are counted."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self._tokens = self.burst
        self._last = anyio.current_time()
        self.refused = 0

    def allow(self) -> bool:
        now = anyio.current_time()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.refused += 1
        return False


def rate_error(rate: float, refused: int, event_id: str | None) -> Event:
    return error_event(
        f"Too many events: this session may send {rate:g} events a second (audio appends aside); "
        f"{refused} event(s) were dropped so far.",
        code="rate_limit_exceeded",
        event_id=event_id,
    )


def size_error(size: int, limit: int) -> Event:
    return error_event(
        f"The message is {size} bytes; the limit is {limit}. The connection will be closed.",
        code="message_too_large",
    )


def queue_error(limit: int, event_id: str | None) -> Event:
    return error_event(
        f"Too many response.create requests are waiting ({limit} at most); this one was dropped. "
        "Wait for response.done before asking again.",
        code="too_many_queued_responses",
        event_id=event_id,
    )


def truncate_output(output: str, limit: int) -> str:
    """A tool result cut to `limit` characters, saying so (the model must not think it is whole)."""
    if len(output) <= limit:
        return output
    return output[:limit] + f"\n[truncated: {len(output) - limit} more characters were left out]"
