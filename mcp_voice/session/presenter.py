"""What the client sees: host calls as MCP calls, the host's own items and errors hidden.

A client must never see a host tool call as a `function_call` (it would try to run it, or wait
for itself to answer), nor the session's host-only tools. So host `function_call` items become
`mcp_call` items, their argument events become `response.mcp_call_arguments.*`, items the host
added upstream (outputs, notes, images) are hidden, and so are errors the host's own events caused.
With `host_calls = "hidden"` host calls are hidden entirely (for GA clients that only know function
calls). A host call's final events (`response.output_item.done`, `conversation.item.done`) are the
call manager's to send, with the output, as OpenAI's hosted MCP does; the upstream ones are dropped.
`session.updated` reaches the client only in answer to its own `session.update`, and
`previous_item_id` only ever names an item the client was shown.
Events that need no change are forwarded as the same dict, never copied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_voice.protocol.events import new_event_id
from mcp_voice.session.items import item_done, mcp_call_event, mcp_call_item, output_item_done
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
_FINAL_EVENTS = frozenset({"response.output_item.done", "conversation.item.done"})
_NOT_RUN = "not run: the response that called it did not complete"


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
    response_id: str = ""
    output_index: int = 0
    previous_item_id: str | None = None
    """The last item the client was shown before this one (for its `conversation.item.done`)."""
    owned: bool = False
    """The host runs (or declines) it, and sends its final events itself."""

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
        *,
        hidden: bool = False,
    ) -> None:
        self._lookup = lookup
        self._label = label
        self._client_tools = client_tools
        self.hidden = hidden
        """`host_calls = "hidden"`: the client sees no host call items or events at all."""
        self.pinned: Event = {}
        """A pinned config (session/pin.py): `session.created` shows it, as the session will have it."""
        self.host_items: set[str] = set()
        self._host_events: dict[str, None] = {}
        self.calls: dict[str, HostCallView] = {}
        self._updates: deque[tuple[str | None, bool]] = deque()
        """`session.update`s sent upstream and not yet answered: (event id, sent by the client)."""
        self._shown_before: dict[str, str | None] = {}
        """A hidden item's id -> the last item before it that the client was shown."""

    # -- what the host tells it -----------------------------------------------------------------

    def host_event(self, event_id: str) -> None:
        """An event the host sent upstream on its own: errors naming it are the host's business."""
        self._host_events[event_id] = None
        if len(self._host_events) > _HOST_EVENT_MEMORY:
            del self._host_events[next(iter(self._host_events))]

    def host_item(self, item_id: str) -> None:
        self.host_items.add(item_id)

    def session_update_sent(self, event_id: str | None, *, by_client: bool) -> None:
        """A `session.update` went upstream: its `session.updated` goes to the client only if it asked."""
        self._updates.append((event_id, by_client))

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

    # -- a host call's own events (sent by the call manager) ------------------------------------

    def call_started(self, view: HostCallView) -> list[Event]:
        """`response.mcp_call.in_progress` (only: the item itself goes to a client that asks)."""
        if self.hidden:
            return []
        return [mcp_call_event("in_progress", view.item_id, view.output_index)]

    def retrieve(self, event: Event) -> list[Event] | None:
        """A client's `conversation.item.retrieve` of a host call: the host answers (None: not one).

        While the call runs, the item as it stands. Once it is done the client has the final item
        (`conversation.item.done`), and the request goes unanswered: @openai/agents-realtime, which
        retrieves every call on `in_progress`, marks any retrieved `mcp_call` "in progress", so an
        answer after a fast call ended would put it back in progress in its history. Nothing is
        sent unasked: a client that never retrieves never gets `conversation.item.retrieved`.
        """
        view = self.calls.get(event.get("item_id") or "")
        if view is None or not view.owned or self.hidden:
            return None
        if view.output is not None or view.error is not None:
            return []  # final: the client was shown the done item
        return [{"type": "conversation.item.retrieved", "event_id": new_event_id(), "item": view.item()}]

    def call_finished(self, view: HostCallView, *, ok: bool) -> list[Event]:
        """`response.mcp_call.completed|failed`, then the item with its output, final and once."""
        if self.hidden:
            return []
        item = view.item()
        return [
            mcp_call_event("completed" if ok else "failed", view.item_id, view.output_index),
            output_item_done(view.response_id, view.output_index, item),
            item_done(item, view.previous_item_id),
        ]

    # -- rewriting ------------------------------------------------------------------------------

    def present(self, event: Event) -> Event | None:
        """The event as the client should get it, or None to hide it."""
        kind = event.get("type")
        if kind in _ITEM_EVENTS:
            item = event.get("item")
            if not isinstance(item, dict):
                return event
            if kind in _FINAL_EVENTS and self._owned(item):
                return None
            shown = self._item(item)
            if kind.startswith("conversation."):
                return self._placed(event, item, shown)
            if shown is None:
                return None
            return event if shown is item else {**event, "item": shown}
        if kind in _ARGUMENT_EVENTS:
            return self._arguments(event, _ARGUMENT_EVENTS[kind])
        if kind == "response.done":
            return self._response_done(event)
        if kind == "error":
            return self._error(event)
        if kind == "session.updated":
            if not self._updates or not self._updates.popleft()[1]:
                return None  # answers the host's own update: the client did not ask
        if kind in ("session.created", "session.updated"):
            session = event.get("session")
            if isinstance(session, dict) and session.get("type", "realtime") == "realtime":
                if kind == "session.created" and self.pinned:  # its update follows at once
                    session = {**session, **self.pinned}
                return {**event, "session": {**session, "tools": self._client_tools()}}
        if kind == "input_audio_buffer.committed" and event.get("previous_item_id") in self._shown_before:
            return {**event, "previous_item_id": self._shown_before[event["previous_item_id"]]}
        return event

    def _owned(self, item: Event) -> bool:
        view = self.calls.get(item.get("id") or "")
        return view is not None and view.owned and not self.hidden

    def _item(self, item: Event) -> Event | None:
        if item.get("id") in self.host_items:
            return None
        if item.get("type") != "function_call":
            return item
        view = self.host_call(item)
        if view is None:
            return item
        if self.hidden:
            return None
        if not view.owned and item.get("status") in ("incomplete", "cancelled") and view.error is None:
            view.error = _NOT_RUN
        return view.item()

    def _placed(self, event: Event, item: Event, shown: Event | None) -> Event | None:
        """A conversation item event whose `previous_item_id` names only items the client was shown."""
        if "previous_item_id" not in event:  # conversation.item.retrieved
            if shown is None:
                return None
            return event if shown is item else {**event, "item": shown}
        previous = event["previous_item_id"]
        before = self._shown_before.get(previous, previous) if isinstance(previous, str) else previous
        if shown is None:
            if isinstance(item.get("id"), str):
                self._shown_before[item["id"]] = before
            return None
        view = self.calls.get(item.get("id") or "")
        if view is not None:
            view.previous_item_id = before
        if before == previous and shown is item:
            return event
        return {**event, "item": shown, "previous_item_id": before}

    def _arguments(self, event: Event, kind: str) -> Event | None:
        view = self.calls.get(event.get("item_id") or "")
        if view is None:
            return event
        if kind == "response.mcp_call_arguments.done":
            view.arguments = event.get("arguments") or view.arguments
        if self.hidden:
            return None
        shown = {key: value for key, value in event.items() if key not in ("call_id", "name")}
        shown["type"] = kind
        if kind == "response.mcp_call_arguments.delta":
            shown.setdefault("obfuscation", "")  # the JS SDK's schema requires it
        return shown

    def _error(self, event: Event) -> Event | None:
        event_id = (event.get("error") or {}).get("event_id")
        for index, (update_id, _) in enumerate(self._updates):
            if event_id is not None and update_id == event_id:
                del self._updates[index]  # a refused update gets no session.updated
                break
        return None if event_id in self._host_events else event

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
