"""Wire-level harness: the test plays the model server (a scripted upstream) and the client.

The host runs between two `channel_pair()`s. Its own ends are wrapped by `Recorder`s, which log
every event in the order the host saw or sent it, so invariants can be checked over the whole
session: no `response.create` while a response is active, every client-bound event valid GA.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio import wait_all_tasks_blocked
from anyio.lowlevel import checkpoint
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from mcp_voice.channels import EventChannel
from mcp_voice.protocol.events import new_call_id, new_event_id, new_item_id, new_response_id
from mcp_voice.session import HostSettings, SessionHost, channel_pair, host_session
from mcp_voice.session.context import CallContext, SessionObserver
from mcp_voice.tools.registry import ToolRegistry

Event = dict[str, Any]
GA_SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
WAIT_S = 5.0


def assert_ga(event: Event) -> None:
    """The event validates against the openai SDK's GA `RealtimeServerEvent` union.

    mcp-voice's own documented event types (`mcp_voice.*`, docs/session.md) are not GA events.
    """
    if str(event.get("type", "")).startswith("mcp_voice."):
        return
    parsed = GA_SERVER_EVENT.validate_python(event)
    assert parsed.type == event["type"], (parsed.type, event)


class Recorder:
    """Wraps one of the host's channels and logs what passes, in the host's order."""

    def __init__(self, inner: EventChannel, side: str, timeline: list[tuple[str, Any]]) -> None:
        self._inner = inner
        self._side = side
        self._timeline = timeline

    async def send(self, event: Event) -> None:
        self._timeline.append((f"to_{self._side}", event))
        await self._inner.send(event)

    async def receive(self) -> Event | str:
        event = await self._inner.receive()
        self._timeline.append((f"from_{self._side}", event))
        return event

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- GA server events, as the model server sends them -----------------------------------------------


def ev(kind: str, **fields: Any) -> Event:
    return {"type": kind, "event_id": new_event_id(), **fields}


def response_obj(response_id: str, status: str = "in_progress", output: list[Event] | None = None) -> Event:
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "output": output or [],
        "conversation_id": "conv_test",
        "output_modalities": ["audio"],
    }


def function_call_item(name: str, arguments: str, *, status: str = "completed", **ids: str) -> Event:
    return {
        "id": ids.get("item_id") or new_item_id(),
        "type": "function_call",
        "object": "realtime.item",
        "status": status,
        "name": name,
        "call_id": ids.get("call_id") or new_call_id(),
        "arguments": arguments,
    }


def assistant_item(text: str, item_id: str | None = None) -> Event:
    return {
        "id": item_id or new_item_id(),
        "type": "message",
        "object": "realtime.item",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": text}],
    }


@dataclass
class Session:
    """One host under test: `server` is the upstream end the test plays, `client` the client end."""

    host: SessionHost
    server: EventChannel
    client: EventChannel
    timeline: list[tuple[str, Any]] = field(default_factory=list)

    # -- the scripted model server ------------------------------------------------------------

    async def play(self, *events: Event) -> None:
        for event in events:
            await self.server.send(event)

    async def upstream(self, kind: str | None = None) -> Event:
        """The next event the host sent upstream (asserting its type)."""
        with anyio.fail_after(WAIT_S):
            event = await self.server.receive()
        assert isinstance(event, dict)
        if kind is not None:
            assert event["type"] == kind, event
        return event

    async def ack(self, create: Event) -> Event:
        """Answer a `conversation.item.create` as the server does: `conversation.item.added` + `done`."""
        assert create["type"] == "conversation.item.create", create
        item = {**create["item"], "object": "realtime.item", "status": "completed"}
        await self.play(ev("conversation.item.added", item=item), ev("conversation.item.done", item=item))
        return item

    async def upstream_item(self, ack: bool = True) -> Event:
        """The next host `conversation.item.create`'s item, acknowledged unless `ack=False`."""
        create = await self.upstream("conversation.item.create")
        if ack:
            await self.ack(create)
        return create["item"]

    async def respond(self, *items: Event, response_id: str | None = None, done: bool = True) -> str:
        """Play one whole response whose output is `items` (function calls or messages)."""
        rid = response_id or new_response_id()
        await self.play(ev("response.created", response=response_obj(rid)))
        for index, item in enumerate(items):
            added = {**item, "status": "in_progress"}
            if item["type"] == "function_call":
                added["arguments"] = ""
            await self.play(
                ev("response.output_item.added", response_id=rid, output_index=index, item=added),
                ev("conversation.item.added", item=added),
            )
            if item["type"] == "function_call":
                where = {
                    "response_id": rid,
                    "item_id": item["id"],
                    "output_index": index,
                    "call_id": item["call_id"],
                }
                await self.play(
                    ev("response.function_call_arguments.delta", delta=item["arguments"], **where),
                    ev(
                        "response.function_call_arguments.done",
                        arguments=item["arguments"],
                        name=item["name"],
                        **where,
                    ),
                )
            await self.play(
                ev("response.output_item.done", response_id=rid, output_index=index, item=item),
                ev("conversation.item.done", item=item),
            )
        if done:
            await self.done(rid, *items)
        return rid

    async def done(self, rid: str, *items: Event, status: str = "completed") -> None:
        await self.play(ev("response.done", response=response_obj(rid, status, list(items))))

    async def call_tool(self, name: str, arguments: Event | None = None) -> Event:
        """The model calls `name` in a response of its own; returns the function_call item."""
        item = function_call_item(name, json.dumps(arguments or {}))
        await self.respond(item)
        return item

    # -- the client --------------------------------------------------------------------------

    async def send(self, event: Event | str) -> None:
        await self.client.send(event)

    async def received(self, kind: str | None = None) -> Event:
        """The next event the host sent the client (asserting its type)."""
        with anyio.fail_after(WAIT_S):
            event = await self.client.receive()
        if kind is not None:
            assert event["type"] == kind, event
        return event

    async def received_until(self, kind: str) -> list[Event]:
        """Client events up to and including the first of type `kind`."""
        seen = [await self.received()]
        while seen[-1]["type"] != kind:
            seen.append(await self.received())
        return seen

    # -- looking at the whole session ---------------------------------------------------------

    async def settle(self) -> None:
        """Let the host and the tool servers run until every task waits on something."""
        await checkpoint()
        await wait_all_tasks_blocked()

    def sent(self, side: str, kind: str | None = None) -> list[Event]:
        """Everything the host sent to `side` ("upstream" / "client"), optionally of one type."""
        return [e for d, e in self.timeline if d == f"to_{side}" and (kind is None or e.get("type") == kind)]

    def check_invariants(self) -> None:
        check_response_creates(self.timeline)
        for event in self.sent("client"):
            assert_ga(event)


def check_response_creates(timeline: list[tuple[str, Any]]) -> None:
    """In the host's own order: never a `response.create` (in the conversation) while one is active.

    Active: from a `response.create` the host sent until `response.created`, then until
    `response.done`; a response the server started by itself counts from its `response.created`.
    A request the server rejected with `conversation_already_has_active_response` is not pending.
    """
    pending: str | None = None
    active: set[str] = set()
    oob: set[str] = set()
    for direction, event in timeline:
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if direction == "to_upstream" and kind == "response.create":
            if (event.get("response") or {}).get("conversation") == "none":
                continue
            assert pending is None and not active, f"response.create while busy: {event} (active {active})"
            pending = event.get("event_id")
        elif direction == "from_upstream" and kind == "response.created":
            response = event["response"]
            if response.get("conversation_id", "x") is None:
                oob.add(response["id"])
                continue
            pending = None
            active.add(response["id"])
        elif direction == "from_upstream" and kind == "response.done":
            active.discard(event["response"]["id"])
        elif direction == "from_upstream" and kind == "error" and event["error"].get("event_id") == pending:
            pending = None


@asynccontextmanager
async def open_session(
    registry: ToolRegistry,
    settings: HostSettings | None = None,
    *,
    check: bool = True,
    context: CallContext | None = None,
    observer: SessionObserver | None = None,
) -> AsyncIterator[Session]:
    """A host between a scripted upstream and a test client; checks the invariants at the end."""
    timeline: list[tuple[str, Any]] = []
    server_end, host_upstream = channel_pair()
    client_end, host_client = channel_pair()
    upstream = Recorder(host_upstream, "upstream", timeline)
    client = Recorder(host_client, "client", timeline)
    try:
        async with host_session(
            registry, upstream, client, settings, context=context, observer=observer
        ) as host:
            session = Session(host, server_end, client_end, timeline)
            yield session
    finally:
        await server_end.aclose()
        await client_end.aclose()
    if check:
        session.check_invariants()
