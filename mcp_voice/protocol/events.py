"""GA client-event validation, `error` events and ids.

The host and the simulator both check what a client sends before acting on it, so a bad event
gets an `error` answer (the Realtime way: the connection stays open) instead of a crash later.
The checks are shallow on purpose: `input_audio_buffer.append` arrives 50 times a second.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

import orjson

from mcp_voice.protocol.shapes import too_deep

Event = dict[str, Any]

GA_CLIENT_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)

_BASE = ("type", "event_id")
GA_CLIENT_EVENT_FIELDS: dict[str, frozenset[str]] = {
    "session.update": frozenset((*_BASE, "session")),
    "input_audio_buffer.append": frozenset((*_BASE, "audio")),
    "input_audio_buffer.commit": frozenset(_BASE),
    "input_audio_buffer.clear": frozenset(_BASE),
    "conversation.item.create": frozenset((*_BASE, "item", "previous_item_id")),
    "conversation.item.retrieve": frozenset((*_BASE, "item_id")),
    "conversation.item.truncate": frozenset((*_BASE, "item_id", "content_index", "audio_end_ms")),
    "conversation.item.delete": frozenset((*_BASE, "item_id")),
    "response.create": frozenset((*_BASE, "response")),
    "response.cancel": frozenset((*_BASE, "response_id")),
    "output_audio_buffer.clear": frozenset(_BASE),
}
"""The top-level fields of each GA client event (the SDK's types); anything else is refused, as
the real server does, so nothing a client adds (a stray key, a credential) is forwarded."""
_APPEND_FIELDS = GA_CLIENT_EVENT_FIELDS["input_audio_buffer.append"]
MAX_EVENT_DEPTH = 32
"""Nesting a client event may have (orjson reads 1024 levels but writes only 254; real events stay
under 15, a tool's JSON schema included)."""
MAX_EVENT_ID_CHARS = 128
"""An `event_id` is echoed in errors and logs, and forwarded: a short string or nothing."""

ErrorCode = Literal[
    "invalid_json",
    "invalid_event",
    "missing_required_parameter",
    "invalid_type",
    "invalid_value",
    "unknown_parameter",
]


class ClientEventError(Exception):
    """A client event the server cannot accept; `error_event()` turns it into the wire answer."""

    def __init__(self, message: str, code: str, event_id: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        # echoed in the answer: only a sound id (a raiser may pass the client's, unchecked)
        sound = type(event_id) is str and len(event_id) <= MAX_EVENT_ID_CHARS
        self.event_id = event_id if sound else None
        self.param = param

    def to_event(self) -> Event:
        return error_event(self.message, code=self.code, event_id=self.event_id, param=self.param)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(10)


def new_event_id() -> str:
    return _new_id("event_")


def new_item_id() -> str:
    return _new_id("item_")


def new_call_id() -> str:
    return _new_id("call_")


def new_response_id() -> str:
    return _new_id("resp_")


def error_event(
    message: str,
    *,
    code: str | None,
    event_id: str | None = None,
    param: str | None = None,
    type: str = "invalid_request_error",
) -> Event:
    """A GA `error` server event; `event_id` inside `error` names the client event at fault."""
    return {
        "type": "error",
        "event_id": new_event_id(),
        "error": {"type": type, "code": code, "message": message, "param": param, "event_id": event_id},
    }


def _require(ev: Event, key: str, kind: type | tuple[type, ...], what: str) -> None:
    value = ev.get(key)
    if value is None:
        raise ClientEventError(
            f"Missing required parameter: '{key}'.", "missing_required_parameter", ev.get("event_id"), key
        )
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ClientEventError(
            f"Invalid type for '{key}': expected {what}, got {type(value).__name__}.",
            "invalid_type",
            ev.get("event_id"),
            key,
        )


def _check_truncate(ev: Event) -> None:
    _require(ev, "item_id", str, "a string")
    for key in ("content_index", "audio_end_ms"):
        _require(ev, key, int, "an integer")
        if ev[key] < 0:
            raise ClientEventError(f"'{key}' must be >= 0.", "invalid_value", ev.get("event_id"), key)


def _check_response_create(ev: Event) -> None:
    if "response" in ev and ev["response"] is not None and not isinstance(ev["response"], dict):
        raise ClientEventError(
            "Invalid type for 'response': expected an object.", "invalid_type", ev.get("event_id"), "response"
        )


def _nested_type(ev: Event, parent: str, key: str, kind: type, what: str, *, required: bool = False) -> None:
    """`ev[parent][key]` must be of `kind` when present (or always, if `required`); param `parent.key`."""
    value = ev[parent].get(key)
    if (required or key in ev[parent]) and not isinstance(value, kind):
        raise ClientEventError(
            f"Invalid type for '{parent}.{key}': expected {what}, got {type(value).__name__}.",
            "invalid_type",
            ev.get("event_id"),
            f"{parent}.{key}",
        )


def _check_session_update(ev: Event) -> None:
    _require(ev, "session", dict, "an object")
    _nested_type(ev, "session", "tools", list, "an array")
    for index, tool in enumerate(ev["session"].get("tools") or ()):
        param = f"session.tools[{index}]"
        if not isinstance(tool, dict):
            raise ClientEventError(
                f"Invalid type for '{param}': expected an object, got {type(tool).__name__}.",
                "invalid_type",
                ev.get("event_id"),
                param,
            )
        for key in ("type", "name", "server_label", "server_url"):
            if key in tool and not isinstance(tool[key], str):
                raise ClientEventError(
                    f"Invalid type for '{param}.{key}': expected a string, got {type(tool[key]).__name__}.",
                    "invalid_type",
                    ev.get("event_id"),
                    f"{param}.{key}",
                )


def _check_item_create(ev: Event) -> None:
    _require(ev, "item", dict, "an object")
    _nested_type(ev, "item", "type", str, "a string")
    if ev["item"].get("type") == "mcp_approval_response":
        _nested_type(ev, "item", "approve", bool, "a boolean", required=True)
        _nested_type(ev, "item", "approval_request_id", str, "a string", required=True)


_CHECKS = {
    "session.update": _check_session_update,
    "conversation.item.create": _check_item_create,
    "conversation.item.retrieve": lambda ev: _require(ev, "item_id", str, "a string"),
    "conversation.item.delete": lambda ev: _require(ev, "item_id", str, "a string"),
    "conversation.item.truncate": _check_truncate,
    "response.create": _check_response_create,
}


def parse_client_event(raw: str | bytes | dict[str, Any]) -> Event:
    """Parse and check one GA client event; raises `ClientEventError` saying what is wrong."""
    if isinstance(raw, dict):
        ev = raw
    else:
        try:
            ev = orjson.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ClientEventError(
                f"The server could not parse the event as JSON: {exc}", "invalid_json"
            ) from None
        if not isinstance(ev, dict):
            raise ClientEventError("Events must be JSON objects.", "invalid_event")
    kind = ev.get("type")
    if kind == "input_audio_buffer.append":  # the hot path: cheap checks; a string audio and a
        if len(ev) > 2 and not ev.keys() <= _APPEND_FIELDS:  # string id leave nothing to nest
            _unknown(ev, _APPEND_FIELDS)
        if "event_id" in ev:
            _check_event_id(ev)
        if type(ev.get("audio")) is not str:
            _require(ev, "audio", str, "a base64 string")
        return ev
    _check_event_id(ev)
    event_id = ev.get("event_id")
    if kind is None:
        raise ClientEventError(
            "Missing required parameter: 'type'.", "missing_required_parameter", event_id, "type"
        )
    if not isinstance(kind, str):
        raise ClientEventError(
            f"Invalid type for 'type': expected a string, got {type(kind).__name__}.",
            "invalid_type",
            event_id,
            "type",
        )
    if kind not in GA_CLIENT_EVENT_TYPES:
        supported = ", ".join(f"'{t}'" for t in sorted(GA_CLIENT_EVENT_TYPES))
        raise ClientEventError(
            f"Invalid value: {json.dumps(kind)}. Supported values are: {supported}.",
            "invalid_value",
            event_id,
            "type",
        )
    fields = GA_CLIENT_EVENT_FIELDS[kind]
    if not ev.keys() <= fields:
        _unknown(ev, fields)
    if too_deep(ev, MAX_EVENT_DEPTH):
        raise ClientEventError(
            f"The event is nested more than {MAX_EVENT_DEPTH} levels deep.", "invalid_event", event_id
        )
    check = _CHECKS.get(kind)
    if check is not None:
        check(ev)
    return ev


def _check_event_id(ev: Event) -> None:
    event_id = ev.get("event_id")
    if event_id is None:
        return
    if type(event_id) is not str:
        raise ClientEventError(
            f"Invalid type for 'event_id': expected a string, got {type(event_id).__name__}.",
            "invalid_type",
            None,
            "event_id",
        )
    if len(event_id) > MAX_EVENT_ID_CHARS:
        raise ClientEventError(
            f"Invalid value for 'event_id': at most {MAX_EVENT_ID_CHARS} characters.",
            "invalid_value",
            None,
            "event_id",
        )


def _unknown(ev: Event, fields: frozenset[str]) -> None:
    key = sorted(set(ev) - fields)[0]
    event_id = ev.get("event_id") if isinstance(ev.get("event_id"), str) else None
    raise ClientEventError(f"Unknown parameter: '{key}'.", "unknown_parameter", event_id, key)
