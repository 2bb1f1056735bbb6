"""Upstream events checked once, where they enter: the GA shapes everything downstream reads.

The reconnect mirror, the metrics tap, the event log, the presenter and the host all read an
upstream event's `type`, `response`, `item`, `rate_limits`... without checking each field again.
That holds because every upstream event passes `server_event_problem` first: on the WebSocket
(`WebSocketUpstream.receive`), or, for an upstream channel of another kind (embedded use, a
reconnecting upstream's openers), through `checked(channel)`. A bad event is dropped and logged
once per shape (no traceback): a server that sends one odd event tends to send it again.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp_voice.channels import Event, EventChannel

logger = logging.getLogger(__name__)

MAX_DEPTH = 32
"""Nesting (objects and arrays) an event may have: real ones stay under 15, orjson writes 254."""
MAX_ID_CHARS = 128
"""An `event_id` longer than this is no id (real ones are ~25 characters)."""

_OBJECTS = ("response", "item", "session", "error", "part", "conversation")
"""Top-level fields that, where present, are objects (what the host and the observers index)."""
_STRINGS = ("event_id", "response_id", "item_id", "previous_item_id", "call_id", "delta", "transcript")
_INTS = ("output_index", "content_index", "audio_start_ms", "audio_end_ms")
_NESTED: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "response": (("id", str), ("status", str), ("output", list), ("usage", dict), ("metadata", dict)),
    "item": (("id", str), ("type", str), ("call_id", str), ("name", str), ("status", str), ("content", list)),
    "error": (("event_id", str), ("code", str), ("message", str), ("type", str)),
    "session": (("tools", list), ("instructions", str)),
}
"""Fields inside those objects that, where present and not null, have these types."""
_LISTS_OF_OBJECTS = (("response", "output"), ("item", "content"), ("session", "tools"))
_REQUIRED = {
    "error": "error",
    "session.created": "session",
    "session.updated": "session",
    "response.created": "response",
    "response.done": "response",
    "response.output_item.added": "item",
    "response.output_item.done": "item",
    "conversation.item.added": "item",
    "conversation.item.done": "item",
    "conversation.item.retrieved": "item",
    "rate_limits.updated": "rate_limits",
}
"""The field each of these events is about: without it, it is not that event."""
_KIND_NAMES = {str: "a string", int: "an integer", list: "an array", dict: "an object"}


def server_event_problem(event: Any) -> str | None:
    """What is wrong with one parsed upstream event, as a shape (no values), or None if it is sound."""
    if type(event) is not dict:
        return f"a JSON {type(event).__name__}, not an object"
    kind = event.get("type")
    if type(kind) is not str:
        return f"'type' is {type(kind).__name__}, not a string"
    if len(kind) > MAX_ID_CHARS:
        return "'type' is too long"
    event_id = event.get("event_id")
    if event_id is not None and (type(event_id) is not str or len(event_id) > MAX_ID_CHARS):
        return f"{kind}: 'event_id' is not a short string"
    for key in _STRINGS:
        value = event.get(key)
        if value is not None and type(value) is not str:
            return f"{kind}: '{key}' is {type(value).__name__}, not a string"
    for key in _INTS:
        value = event.get(key)
        if value is not None and (type(value) is not int):
            return f"{kind}: '{key}' is {type(value).__name__}, not an integer"
    required = _REQUIRED.get(kind)
    if required is not None and required not in event:
        return f"{kind}: no '{required}'"
    for key in _OBJECTS:
        if key in event and type(event[key]) is not dict:
            return f"{kind}: '{key}' is {type(event[key]).__name__}, not an object"
    if "rate_limits" in event:
        limits = event["rate_limits"]
        if type(limits) is not list or any(type(limit) is not dict for limit in limits):
            return f"{kind}: 'rate_limits' is not an array of objects"
    for parent, fields in _NESTED.items():
        inner = event.get(parent)
        if inner is None:
            continue
        for key, expected in fields:
            value = inner.get(key)
            if value is not None and not isinstance(value, expected):
                return f"{kind}: '{parent}.{key}' is {type(value).__name__}, not {_KIND_NAMES[expected]}"  # type: ignore[index]
    for parent, key in _LISTS_OF_OBJECTS:
        values = (event.get(parent) or {}).get(key)
        if values and any(type(value) is not dict for value in values):
            return f"{kind}: '{parent}.{key}' holds a non-object"
    if too_deep(event, MAX_DEPTH):
        return f"{kind}: nested more than {MAX_DEPTH} levels deep"
    return None


def too_deep(value: Any, limit: int) -> bool:
    """Whether `value` nests objects/arrays deeper than `limit` (iterative: any depth is safe)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        for child in children:
            if type(child) is dict or type(child) is list:
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


class ShapeLog:
    """Logs each problem shape once (no traceback); counts the rest."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def dropped(self, problem: str) -> None:
        count = self.seen.get(problem, 0)
        self.seen[problem] = count + 1
        if not count and len(self.seen) <= 256:
            logger.warning(
                "dropped a malformed upstream event (%s); later ones like it are dropped quietly", problem
            )


class CheckedUpstream:
    """An upstream `EventChannel` whose `receive` only returns events that passed the check."""

    events_checked = True

    def __init__(self, inner: EventChannel) -> None:
        self._inner = inner
        self.shapes = ShapeLog()

    async def send(self, event: Event | str) -> None:
        await self._inner.send(event)

    async def receive(self) -> Event | str:
        while True:
            event = await self._inner.receive()
            problem = server_event_problem(event)
            if problem is None:
                return event
            self.shapes.dropped(problem)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def checked(channel: EventChannel) -> EventChannel:
    """`channel` itself if its events are checked already (a WebSocket upstream), else wrapped."""
    return channel if getattr(channel, "events_checked", False) else CheckedUpstream(channel)
