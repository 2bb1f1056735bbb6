"""Outbox: how the host's own parts send, so every host-made upstream event is marked as the host's.

Marking matters: an upstream `error` naming a host event, and the `conversation.item.added/done`
of an item the host created, are hidden from the client by the presenter.
"""

from __future__ import annotations

from typing import Any

from mcp_voice.channels import EventChannel
from mcp_voice.session.items import item_create
from mcp_voice.session.presenter import Presenter

Event = dict[str, Any]


class Outbox:
    """The session's two channels, as the host's parts use them."""

    def __init__(self, upstream: EventChannel, client: EventChannel, presenter: Presenter) -> None:
        self._upstream = upstream
        self._client = client
        self._presenter = presenter

    async def forward(self, event: Event | str) -> None:
        """A client event, upstream as it is (already-encoded JSON text is sent verbatim)."""
        await self._upstream.send(event)

    async def host(self, event: Event) -> None:
        """An upstream event the host makes on its own (its errors stay with the host)."""
        self._presenter.host_event(event["event_id"])
        await self._upstream.send(event)

    async def add_item(self, item: Event) -> str:
        """Add a host item (with its `id` set) to the conversation, hidden from the client."""
        self._presenter.host_item(item["id"])
        await self.host(item_create(item))
        return item["id"]

    async def client(self, event: Event) -> None:
        await self._client.send(event)
