"""What the client sees: host calls as MCP calls, the host's own items and errors hidden.

A client must never see a host tool call as a `function_call` (it would try to run it, or wait
for itself to answer), nor the session's host-only tools. So host `function_call` items become
`mcp_call` items, their argument events become `response.mcp_call_arguments.*`, items the host
added upstream (outputs, notes, images) are hidden, and so are errors the host's own events caused.
Events that need no change are forwarded as the same dict, never copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_voice.session.items import mcp_call_item
from mcp_voice.tools.spec import HostTool

Event = dict[str, Any]
_HOST_EVENT_MEMORY = 512
"""How many host event ids to remember for matching upstream errors (errors follow quickly)."""

_ITEM_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
    }
)
_ARGUMENT_EVENTS = {
    "response.function_call_arguments.delta": "response.mcp_call_arguments.delta",
    "response.function_call_arguments.done": "response.mcp_call_arguments.done",
}


@dataclass
class HostCallView:
    """One host call as the client knows it (an `mcp_call` item)."""

    item_id: str
    call_id: str
    tool: HostTool
    server_label: str
    arguments: str = ""
    output: str | None = None
    error: str | None = None
    approval_request_id: str | None = None

    def item(self) -> Event:
        return mcp_call_item(
            self.item_id,
            self.server_label,
            self.tool.tool_name,
            self.arguments,
            output=self.output,
            error=self.error,
            approval_request_id=self.approval_request_id,
        )


class Presenter:
    """Rewrites upstream events for the client. One per session."""

    def __init__(
        self,
        lookup: Callable[[str], HostTool | None],
        label: Callable[[HostTool], str],
        client_tools: Callable[[], list[Event]],
    ) -> None:
        self._lookup = lookup
        self._label = label
        self._client_tools = client_tools
        self.host_items: set[str] = set()
        self._host_events: dict[str, None] = {}
        self.calls: dict[str, HostCallView] = {}

    # -- what the host tells it -----------------------------------------------------------------

    def host_event(self, event_id: str) -> None:
        """An event the host sent upstream on its own: errors naming it are the host's business."""
        self._host_events[event_id] = None
        if len(self._host_events) > _HOST_EVENT_MEMORY:
            del self._host_events[next(iter(self._host_events))]

    def host_item(self, item_id: str) -> None:
        self.host_items.add(item_id)

    def host_call(self, item: Event) -> HostCallView | None:
        """The view of a `function_call` item if it calls a host tool (tracked from first sight)."""
        item_id = item.get("id")
        view = self.calls.get(item_id) if item_id else None
        if view is None:
            tool = self._lookup(item.get("name") or "")
            if tool is None or not item_id:
                return None
            view = HostCallView(item_id, item.get("call_id") or "", tool, self._label(tool))
            self.calls[item_id] = view
        if item.get("arguments"):
            view.arguments = item["arguments"]
        if not view.call_id and item.get("call_id"):
            view.call_id = item["call_id"]
        return view

    # -- rewriting ------------------------------------------------------------------------------

    def present(self, event: Event) -> Event | None:
        """The event as the client should get it, or None to hide it."""
        kind = event.get("type")
        if kind in _ITEM_EVENTS:
            item = event.get("item")
            if not isinstance(item, dict):
                return event
            shown = self._item(item)
            if shown is None:
                return None
            return event if shown is item else {**event, "item": shown}
        if kind in _ARGUMENT_EVENTS:
            return self._arguments(event, _ARGUMENT_EVENTS[kind])
        if kind == "response.done":
            return self._response_done(event)
        if kind == "error":
            error = event.get("error") or {}
            return None if error.get("event_id") in self._host_events else event
        if kind in ("session.created", "session.updated"):
            session = event.get("session")
            if isinstance(session, dict) and session.get("type", "realtime") == "realtime":
                return {**event, "session": {**session, "tools": self._client_tools()}}
        return event

    def _item(self, item: Event) -> Event | None:
        if item.get("id") in self.host_items:
            return None
        if item.get("type") != "function_call":
            return item
        view = self.host_call(item)
        return item if view is None else view.item()

    def _arguments(self, event: Event, kind: str) -> Event:
        view = self.calls.get(event.get("item_id") or "")
        if view is None:
            return event
        shown = {key: value for key, value in event.items() if key not in ("call_id", "name")}
        shown["type"] = kind
        if kind == "response.mcp_call_arguments.done":
            view.arguments = event.get("arguments") or view.arguments
        return shown

    def _response_done(self, event: Event) -> Event:
        response = event.get("response")
        if not isinstance(response, dict):
            return event
        output = response.get("output")
        if not output:
            return event
        shown: list[Event] = []
        changed = False
        for item in output:
            rewritten = self._item(item) if isinstance(item, dict) else item
            changed |= rewritten is not item
            if rewritten is not None:
                shown.append(rewritten)
        if not changed:
            return event
        return {**event, "response": {**response, "output": shown}}
