"""Approval: a tool marked `approval` (destructive tools are) runs only after the user says yes.

The host asks with an `mcp_approval_request` item (the hosted-MCP shape clients already handle)
and waits for the client's `mcp_approval_response`, which it answers itself instead of
forwarding. A client that is shown no host calls (`hidden`) cannot answer one: there the
question is asked aloud instead, on the same path as a question a tool asks (questions.py).
A decline tells the model the user said no, and the model says so.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types

from mcp_voice.protocol.events import new_item_id
from mcp_voice.session.items import item_added, item_done
from mcp_voice.session.outbox import Outbox
from mcp_voice.session.presenter import HostCallView
from mcp_voice.session.questions import Questions

logger = logging.getLogger(__name__)

Event = dict[str, Any]


class ApprovalGate:
    """Calls waiting for the client's word, by approval request id."""

    def __init__(
        self,
        outbox: Outbox,
        approve: Callable[[HostCallView, int], Awaitable[None]],
        decline: Callable[[HostCallView, int, str | None], Awaitable[None]],
    ) -> None:
        self._out = outbox
        self._approve = approve
        self._decline = decline
        self._waiting: dict[str, tuple[HostCallView, int]] = {}

    @property
    def waiting(self) -> list[str]:
        return list(self._waiting)

    async def ask(self, view: HostCallView, output_index: int) -> None:
        request_id = "mcpr_" + secrets.token_hex(10)
        view.approval_request_id = request_id
        self._waiting[request_id] = (view, output_index)
        item = {
            "type": "mcp_approval_request",
            "id": request_id,
            "server_label": view.server_label,
            "name": view.tool.tool_name,
            "arguments": view.arguments,
        }
        await self._out.client(item_added(item))
        await self._out.client(item_done(item))

    async def ask_aloud(
        self, questions: Questions, view: HostCallView, output_index: int, timeout_s: float
    ) -> None:
        """Ask the user by voice whether the call may run (no answer in time: declined)."""
        message = (
            f"May {view.tool.name} run with arguments {view.arguments or '{}'}? It needs the user's "
            "approval. Approving is answering with an empty answer object."
        )
        params = mcp_types.ElicitRequestFormParams(message=message, requested_schema={"type": "object"})
        result = mcp_types.ElicitResult(action="decline")
        with anyio.move_on_after(timeout_s):
            result = await questions.ask(view, params)
        if result.action == "accept":
            await self._approve(view, output_index)
        else:
            await self._decline(view, output_index, "the user did not approve")

    def owns(self, event: Event) -> bool:
        """A client `conversation.item.create` answering one of the host's requests."""
        item = event.get("item") or {}
        return (
            item.get("type") == "mcp_approval_response" and item.get("approval_request_id") in self._waiting
        )

    async def answer(self, event: Event) -> None:
        item = event["item"]
        approve: bool = item["approve"]  # parse_client_event checked it is a boolean
        request_id = item["approval_request_id"]
        view, output_index = self._waiting.pop(request_id)
        reason = item.get("reason") if isinstance(item.get("reason"), str) else None
        echo: Event = {
            "type": "mcp_approval_response",
            "id": item.get("id") if isinstance(item.get("id"), str) else new_item_id(),
            "approval_request_id": request_id,
            "approve": approve,
        }
        if reason:
            echo["reason"] = reason
        await self._out.client(item_added(echo, previous_item_id=request_id))
        await self._out.client(item_done(echo))
        logger.debug("approval %s for %s: %s", request_id, view.tool.name, approve)
        if approve:
            await self._approve(view, output_index)
        else:
            await self._decline(view, output_index, reason)
