"""SessionMirror: what an upstream session holds and is doing, as seen from the events passing by.

A reconnecting upstream (`protocol.reconnect`) needs to know, when a connection drops, what the
lost session had (its config, its conversation) and what it was in the middle of (responses
running or asked for, a user turn). It cannot ask the server, so it mirrors the events: what was
sent (`sent`), what came back (`received`), what the server refused (`refused`).
"""

from __future__ import annotations

import logging
from typing import Any

from mcp_voice.protocol.events import new_event_id, new_item_id
from mcp_voice.protocol.replay import ConversationLog, merge_config

logger = logging.getLogger(__name__)

Event = dict[str, Any]
_REMEMBERED_CREATES = 512
_REMEMBERED_UPDATES = 16
_ITEM_EVENTS = frozenset({"conversation.item.added", "conversation.item.done", "response.output_item.done"})
_TURN_OVER = frozenset(
    {"input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "input_audio_buffer.cleared"}
)


class SessionMirror:
    """One upstream session's config, conversation and activity, kept from the events."""

    def __init__(self) -> None:
        self.log = ConversationLog()
        self.active: dict[str, Event] = {}
        """Responses running (by id): `response.created` seen, `response.done` not yet."""
        self.pending_creates: dict[str, Event] = {}
        """`response.create`s sent that no response has started for yet (by event_id)."""
        self.speaking = False
        self._session_base: Event = {}
        self._session_updates: list[tuple[str, Event]] = []
        """Recent `session.update`s by event_id: one the server refuses is taken out again, so a
        single bad value cannot make the whole replayed config fail."""
        self._creates: dict[str, str] = {}
        """event_id of a sent `conversation.item.create` -> its item id (a refusal undoes it)."""

    @property
    def session(self) -> Event:
        """The session config as the client and the host set it (their merged `session.update`s)."""
        merged = self._session_base
        for _, update in self._session_updates:
            merged = merge_config(merged, update)
        return merged

    @staticmethod
    def prepare(event: Event) -> Event:
        """The event with the ids needed to match it later (an item's id, the event's event_id)."""
        kind = event.get("type")
        if kind == "conversation.item.create":
            item = event.get("item")
            if isinstance(item, dict) and not isinstance(item.get("id"), str):
                event = {**event, "item": {**item, "id": new_item_id()}}
        if not isinstance(event.get("event_id"), str) and kind in (
            "conversation.item.create",
            "response.create",
            "session.update",
        ):
            event = {**event, "event_id": new_event_id()}
        return event

    def sent(self, event: Event) -> None:
        """An event reached the upstream (after `prepare`)."""
        try:
            kind = event.get("type")
            if kind == "session.update" and isinstance(event.get("session"), dict):
                self._session_updates.append((event["event_id"], event["session"]))
                if len(self._session_updates) > _REMEMBERED_UPDATES:  # long accepted by now
                    _, oldest = self._session_updates.pop(0)
                    self._session_base = merge_config(self._session_base, oldest)
            elif kind == "conversation.item.create" and isinstance(event.get("item"), dict):
                item = event["item"]
                self.log.upsert(item)
                self._creates[event["event_id"]] = item["id"]
                if len(self._creates) > _REMEMBERED_CREATES:
                    del self._creates[next(iter(self._creates))]
            elif kind == "response.create":
                response = event.get("response")
                if not (isinstance(response, dict) and response.get("conversation") == "none"):
                    self.pending_creates[event["event_id"]] = event
        except Exception:
            logger.warning("could not track a sent %.40r event", event.get("type"), exc_info=True)

    def received(self, kind: str, event: Event) -> None:
        """An upstream event, its shape checked where it entered (`protocol.shapes`): `item` and
        `response` are objects there, their ids strings where present."""
        if kind in _ITEM_EVENTS:
            self.log.upsert(event["item"])
        elif kind == "response.created":
            response = event["response"]
            if "id" in response:
                self.active[response["id"]] = response
                if response.get("conversation_id", "") is not None:
                    self.pending_creates.clear()
        elif kind == "response.done":
            self.active.pop(event["response"].get("id"), None)
        elif kind == "input_audio_buffer.speech_started":
            self.speaking = True
        elif kind in _TURN_OVER:
            self.speaking = False
        elif kind == "conversation.item.deleted":
            self.log.delete(event.get("item_id"))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.log.transcript(event.get("item_id"), event.get("content_index"), event.get("transcript"))
        elif kind == "error" and event["error"].get("event_id") is not None:
            self.refused(event["error"]["event_id"])

    def refused(self, event_id: str) -> None:
        """The server refused one of the events we sent: it changed nothing."""
        refused = [update for update in self._session_updates if update[0] == event_id]
        if refused:
            self._session_updates.remove(refused[0])
        self.pending_creates.pop(event_id, None)
        if event_id in self._creates:
            self.log.delete(self._creates.pop(event_id))
