"""ConversationLog: what a fresh upstream session needs to carry on a conversation.

A reconnecting upstream (`protocol.reconnect`) keeps it from the events passing through: the
session config the client and the host set, and the conversation's items as the model server
knows them. `replay_items()` turns them into `conversation.item.create` items a new session
accepts: messages as text (audio as its transcript), function calls with their outputs, the
host's notes. A long conversation is moved within a budget: the oldest turns are summarised
into one system message; a call whose output is still owed is never left out.
"""

from __future__ import annotations

from typing import Any

from mcp_voice.protocol.events import new_item_id

Event = dict[str, Any]

_TEXT_PART = {"user": "input_text", "system": "input_text", "assistant": "output_text"}
SUMMARY_SHARE = 0.1
"""The part of the budget the summary of dropped turns may take."""


def merge_config(base: Event, update: Event) -> Event:
    """`update` over `base`, objects merged key by key (as `session.update` applies)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


class ConversationLog:
    """The conversation as the model server knows it, in order, keyed by item id."""

    def __init__(self) -> None:
        self.items: dict[str, Event] = {}
        self._transcripts: dict[tuple[str, int], str] = {}

    def upsert(self, item: Any) -> None:
        """An item added or updated (a later version replaces the earlier, in place)."""
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            self.items[item["id"]] = item

    def delete(self, item_id: Any) -> None:
        if isinstance(item_id, str):
            self.items.pop(item_id, None)

    def transcript(self, item_id: Any, content_index: Any, text: Any) -> None:
        """A user audio item's transcript, which arrives after the item itself."""
        if isinstance(item_id, str) and isinstance(content_index, int) and isinstance(text, str):
            self._transcripts[item_id, content_index] = text

    # -- replay -----------------------------------------------------------------------------------

    def replay_items(self, budget_chars: int) -> list[Event]:
        """Items for a new session, oldest first, within `budget_chars` of text."""
        items = [shaped for item in self.items.values() if (shaped := self._shape(item)) is not None]
        answered = {item["call_id"] for item in items if item["type"] == "function_call_output"}
        total = sum(_size(item) for item in items)
        dropped: list[Event] = []
        kept: list[Event] = []
        released: set[str] = set()
        for item in items:
            if total > budget_chars and _droppable(item, answered, released):
                total -= _size(item)
                dropped.append(item)
                if item["type"] == "function_call":
                    released.add(item["call_id"])  # its output goes with it
                continue
            kept.append(item)
        if not dropped:
            return kept
        summary = _summary(dropped, max(200, int(budget_chars * SUMMARY_SHARE)))
        return [_system(summary), *kept]

    def _shape(self, item: Event) -> Event | None:
        kind = item.get("type")
        item_id = item["id"]
        if kind == "function_call":
            if item.get("status") not in (None, "completed") or not isinstance(item.get("call_id"), str):
                return None  # its arguments never completed: no call was made
            return {
                "type": "function_call",
                "id": item_id,
                "call_id": item["call_id"],
                "name": item.get("name") or "",
                "arguments": item.get("arguments") or "",
            }
        if kind == "function_call_output" and isinstance(item.get("call_id"), str):
            return {
                "type": "function_call_output",
                "id": item_id,
                "call_id": item["call_id"],
                "output": str(item.get("output") or ""),
            }
        if kind != "message" or item.get("role") not in _TEXT_PART:
            return None
        role = item["role"]
        content: list[Event] = []
        for index, part in enumerate(item.get("content") or ()):
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
                content.append({"type": "input_image", "image_url": part["image_url"]})
                continue
            text = part.get("text")
            if not isinstance(text, str):
                text = part.get("transcript")
            if not isinstance(text, str):
                text = self._transcripts.get((item_id, index))
            if isinstance(text, str) and text:
                content.append({"type": _TEXT_PART[role], "text": text})
        if not content:
            return None
        return {"type": "message", "id": item_id, "role": role, "content": content}


def _droppable(item: Event, answered: set[str], released: set[str]) -> bool:
    """Messages may go; a call only with its output; an output only with its call."""
    if item["type"] == "function_call":
        return item["call_id"] in answered
    if item["type"] == "function_call_output":
        return item["call_id"] in released
    return True


def _size(item: Event) -> int:
    if item["type"] == "function_call":
        return len(item["arguments"]) + len(item["name"])
    if item["type"] == "function_call_output":
        return len(item["output"])
    return sum(len(part.get("text") or part.get("image_url") or "") for part in item["content"])


def _summary(dropped: list[Event], limit: int) -> str:
    lines: list[str] = []
    for item in dropped:
        if item["type"] == "message":
            text = " ".join(part["text"] for part in item["content"] if "text" in part)
            if text:
                lines.append(f"{item['role']}: {text}")
        elif item["type"] == "function_call":
            lines.append(f"(called {item['name']})")
    body = "\n".join(lines)
    if len(body) > limit:
        body = "…" + body[-limit:]  # the most recent of the dropped turns matter most
    return (
        "The conversation so far was moved to a new session; its oldest turns are abridged here "
        "(continue it, do not greet the user again):\n" + body
    )


def _system(text: str) -> Event:
    return {
        "type": "message",
        "id": new_item_id(),
        "role": "system",
        "content": [{"type": "input_text", "text": text}],
    }
