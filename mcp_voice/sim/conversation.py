"""The simulator's conversation: ordered items, their audio, and the checks on new items.

Items are kept in the GA shape the server reports. Audio is kept beside them (the real server
leaves audio out of `conversation.item.added`/`done` and returns it only on retrieve); its
length is what `conversation.item.truncate` is checked against.
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any

from mcp_voice.protocol.events import ClientEventError, new_item_id

Item = dict[str, Any]

_CONTENT_TYPES = {
    "user": {"input_text", "input_audio", "input_image"},
    "system": {"input_text"},
    "assistant": {"output_text", "output_audio"},
}


class Conversation:
    """The default conversation of one session."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}  # insertion order is conversation order
        self.audio: dict[str, bytes] = {}
        """Input audio of user items, for `conversation.item.retrieve`."""
        self.audio_ms: dict[str, int] = {}
        """Audio length per item: user input audio, or the assistant audio sent so far."""
        self.heard: dict[str, str] = {}
        """What was recognised in user audio, and what was heard of truncated assistant audio."""
        self._marks: dict[str, list[tuple[int, int]]] = {}

    def mark_heard(self, item_id: str, audio_ms: int, chars: int) -> None:
        """`chars` of the item's transcript went out with its first `audio_ms` of audio."""
        self._marks.setdefault(item_id, []).append((audio_ms, chars))

    def heard_chars(self, item_id: str, audio_end_ms: int) -> int:
        """How much of the transcript went out with audio that ends by `audio_end_ms` (a barge-in)."""
        return max((chars for ms, chars in self._marks.get(item_id, ()) if ms <= audio_end_ms), default=0)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def items(self) -> list[Item]:
        return list(self._items.values())

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    @property
    def last_id(self) -> str | None:
        return next(reversed(self._items), None)

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Append `item` (or insert it after `previous_item_id`); returns the id before it."""
        if previous_item_id is None or previous_item_id == self.last_id:
            before = self.last_id
            self._items[item["id"]] = item
            return before
        if previous_item_id not in self._items and previous_item_id != "root":
            raise KeyError(previous_item_id)
        ordered = list(self._items.items())
        at = 0 if previous_item_id == "root" else [k for k, _ in ordered].index(previous_item_id) + 1
        ordered.insert(at, (item["id"], item))
        self._items = dict(ordered)
        return None if previous_item_id == "root" else previous_item_id

    def replace(self, item: Item) -> None:
        if item["id"] in self._items:
            self._items[item["id"]] = item

    def delete(self, item_id: str) -> bool:
        self.audio.pop(item_id, None)
        self.audio_ms.pop(item_id, None)
        self.heard.pop(item_id, None)
        self._marks.pop(item_id, None)
        return self._items.pop(item_id, None) is not None

    def has_call(self, call_id: str) -> bool:
        return any(
            i.get("type") == "function_call" and i.get("call_id") == call_id for i in self._items.values()
        )


def _bad(message: str, event_id: str | None, param: str, code: str = "invalid_value") -> ClientEventError:
    return ClientEventError(message, code, event_id, param)


def normalize_item(raw: Item, conversation: Conversation, event_id: str | None) -> tuple[Item, bytes]:
    """A client's item checked and completed (id, object, status), and its input audio bytes."""
    item = copy.deepcopy(raw)
    kind = item.get("type")
    item_id = item.get("id") or new_item_id()
    if item_id in conversation:
        raise _bad(f"Item with id '{item_id}' already exists in the conversation.", event_id, "item.id")
    audio = b""
    if kind == "message":
        role = item.get("role")
        if role not in _CONTENT_TYPES:
            raise _bad(f"Invalid value for 'item.role': {role!r}.", event_id, "item.role")
        content = item.get("content")
        if not isinstance(content, list):
            raise _bad("'item.content' must be an array.", event_id, "item.content", "invalid_type")
        for n, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in _CONTENT_TYPES[role]:
                allowed = ", ".join(sorted(_CONTENT_TYPES[role]))
                raise _bad(
                    f"Content of a {role} message must be one of: {allowed}.", event_id, f"item.content[{n}]"
                )
            if part["type"] == "input_audio" and part.get("audio"):
                try:
                    audio += base64.b64decode(part["audio"], validate=True)
                except (binascii.Error, ValueError):
                    raise _bad("Invalid base64 audio.", event_id, f"item.content[{n}].audio") from None
    elif kind == "function_call":
        if not isinstance(item.get("name"), str) or not isinstance(item.get("arguments", ""), str):
            raise _bad("A function_call item needs a string 'name' and 'arguments'.", event_id, "item.name")
        item.setdefault("arguments", "")
        item.setdefault("call_id", item_id.replace("item_", "call_", 1))
    elif kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not isinstance(item.get("output"), str):
            raise _bad(
                "A function_call_output item needs string 'call_id' and 'output'.", event_id, "item.call_id"
            )
        if not conversation.has_call(call_id):
            raise _bad(
                f"Tool call ID '{call_id}' not found in conversation.",
                event_id,
                "item.call_id",
                "invalid_tool_call_id",
            )
    else:
        raise _bad(
            f"The simulator accepts message, function_call and function_call_output items, not {kind!r}.",
            event_id,
            "item.type",
        )
    item.update(id=item_id, object="realtime.item", status="completed")
    return item, audio


def without_audio(item: Item) -> Item:
    """The item as `conversation.item.added`/`done` show it: audio data left out."""
    content = item.get("content")
    if not isinstance(content, list) or not any(isinstance(c, dict) and "audio" in c for c in content):
        return item
    return {**item, "content": [{k: v for k, v in c.items() if k != "audio"} for c in content]}
