"""ClientFeed: client-bound events in order, with a response held open while its host calls run.

OpenAI's hosted MCP ends a response only after the response's MCP calls have finished, and
clients rely on that order (@openai/agents-realtime asks for a response whenever an `mcp_call`
item is done, and keeps the call "in progress" until then). Upstream, a response that calls a
host tool is done at once: the host runs the tool afterwards. So the feed holds that response's
`response.done`, and everything that follows it, until each synchronous host call of the response
has sent its final events (`response.mcp_call.completed`, `response.output_item.done` with the
output, `conversation.item.done`). Events before the `response.done` (audio of a message in the
same response) flow at once, and so do input events at any time (`speech_started` and the rest
of the input buffer, input transcripts, rate limits): they belong to no response, and a client
must hear at once that the user started speaking, as it would during OpenAI's own MCP call.
While a response is held, only what comes after it waits: events of responses created after the
hold began, and events that name no response. Events of a response that was already running (an
out-of-band response, audio of a stream that started earlier) go on, so a slow tool call never
delays audio it has nothing to do with. Held upstream events are presented when they are
released, so the `response.done` shows the finished calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Event = dict[str, Any]
_INPUT_PREFIXES = ("input_audio_buffer.", "conversation.item.input_audio_transcription.", "rate_limits.")


def _response_id(event: Event) -> str:
    response = event.get("response")
    return str(response.get("id") or "") if isinstance(response, dict) else ""


class ClientFeed:
    """The session's client-bound upstream events and host-call events, in the order a client needs."""

    def __init__(
        self, send: Callable[[Event], Awaitable[None]], present: Callable[[Event], Event | None]
    ) -> None:
        self._send = send
        self._present = present
        self._open: dict[str, set[str]] = {}
        """Response id -> item ids of its host calls whose final events are not sent yet."""
        self._queue: list[tuple[Event, bool]] = []
        """Held events in order: (event, still to be presented: it came from upstream)."""
        self._held: str | None = None
        self._flushing = False
        self._later: set[str] = set()
        """Responses created while something was held: all their events wait in the queue."""

    @property
    def holding(self) -> bool:
        """Events are waiting: anything new queues behind them."""
        return self._held is not None or self._flushing or bool(self._queue)

    def open_call(self, response_id: str, item_id: str) -> None:
        """A synchronous host call of `response_id` started: its `response.done` waits for it."""
        self._open.setdefault(response_id, set()).add(item_id)

    async def upstream(self, event: Event) -> None:
        """An upstream event for the client: presented and sent, or queued while a response is held."""
        kind = str(event.get("type"))
        if self.holding and not kind.startswith(_INPUT_PREFIXES) and self._after_hold(event, kind):
            self._queue.append((event, True))
            return
        if event.get("type") == "response.done" and self._open.get(_response_id(event)):
            self._held = _response_id(event)
            self._queue.append((event, True))
            return
        shown = self._present(event)
        if shown is not None:
            await self._send(shown)

    def _after_hold(self, event: Event, kind: str) -> bool:
        """Whether `event` must wait behind the held response (it may belong after it)."""
        if kind == "response.created":
            self._later.add(_response_id(event))
            return True
        response_id = event.get("response_id") or _response_id(event)
        return not response_id or response_id in self._later

    async def call_events(self, response_id: str, events: list[Event]) -> None:
        """A host call's own events (already in the client's shape)."""
        if not events:
            return
        if not self.holding or self._held == response_id:
            for event in events:
                await self._send(event)
            return
        # Behind another held response: keep them before their own response's response.done.
        at = next(
            (
                i
                for i, (queued, raw) in enumerate(self._queue)
                if raw and queued.get("type") == "response.done" and _response_id(queued) == response_id
            ),
            len(self._queue),
        )
        self._queue[at:at] = [(event, False) for event in events]

    async def close_call(self, response_id: str, item_id: str, events: list[Event]) -> None:
        """A host call's final events, in order; its response is released when it was the last one."""
        calls = self._open.get(response_id)
        if calls is not None:
            calls.discard(item_id)
            if not calls:
                del self._open[response_id]
        await self.call_events(response_id, events)
        if self._held == response_id and response_id not in self._open and not self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        """Send the queue in order, up to the next `response.done` whose calls are still running."""
        self._held = None
        self._flushing = True
        try:
            while self._queue:
                event, raw = self._queue[0]
                if raw and event.get("type") == "response.done" and self._open.get(_response_id(event)):
                    self._held = _response_id(event)
                    return
                del self._queue[0]
                shown = self._present(event) if raw else event
                if shown is not None:
                    await self._send(shown)
        finally:
            self._flushing = False
            if not self._queue:
                self._later.clear()
