"""A session config pinned by whoever opened the session (a client secret): held on parsed events.

The backend that minted a client secret chose the instructions, voice and tools; the browser
holding it must not widen them. The host applies the pin to each client event after parsing it
(`parse_client_event`), so no spelling of an event (an escaped `"session\\u002eupdate"`, a
duplicated key) gets past it:
- the pinned config is the session's first `session.update` (tools expanded like any other);
- a later `session.update` loses the pinned fields, with an `error` naming what was kept;
- a `response.create` that overrides a pinned field (or, when tools are pinned, `tools` or
  `tool_choice`) is refused with an `error`: refused rather than stripped, because a response
  run with silently different settings would mislead the client;
- a host tool the pinned tools did not expose is refused if the model calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp_voice.protocol.events import error_event

Event = dict[str, Any]

NOT_PINNED = frozenset({"type", "model"})
"""`model` picks the upstream connection (applied by the endpoint), not a session field."""
PINNED_EVENT_ID = "event_pinned_session"
_RESPONSE_OVERRIDES = {
    "instructions": ("instructions",),
    "tools": ("tools", "tool_choice"),
    "tool_choice": ("tool_choice",),
    "audio": ("audio",),
    "output_modalities": ("output_modalities",),
    "max_output_tokens": ("max_output_tokens",),
    "prompt": ("prompt",),
}
"""A pinned session field -> the `response.create` fields that would override it for a response."""


class SessionPin:
    """The pinned config of one session, and the host tools it allows once applied."""

    def __init__(self, session: Mapping[str, Any]) -> None:
        self.session = {k: v for k, v in session.items() if k not in NOT_PINNED}
        self.allowed_tools: frozenset[str] | None = None
        """Names of the function tools the pinned update exposed (None: tools are not pinned)."""
        self._refused_response_fields = frozenset(
            field for key in self.session for field in _RESPONSE_OVERRIDES.get(key, ())
        )

    def first_update(self) -> Event:
        return {
            "type": "session.update",
            "event_id": PINNED_EVENT_ID,
            "session": {"type": "realtime", **self.session},
        }

    def applied(self, upstream_tools: list[Event]) -> None:
        """The pinned update went upstream with these tools: only they may be called."""
        if "tools" in self.session:
            self.allowed_tools = frozenset(
                tool["name"] for tool in upstream_tools if isinstance(tool.get("name"), str)
            )

    def hold_update(self, event: Event) -> tuple[Event, Event | None]:
        """A client `session.update` without the pinned fields, and the `error` if it tried to change one."""
        session = event["session"]
        changed = sorted(k for k in session if k in self.session and session[k] != self.session[k])
        kept = {**event, "session": {k: v for k, v in session.items() if k not in self.session}}
        if not changed:
            return kept, None
        return kept, error_event(
            f"{', '.join(changed)} cannot be changed: fixed by the client secret this session was "
            "opened with",
            code="pinned_by_client_secret",
            event_id=event.get("event_id"),
            param="session." + changed[0],
        )

    def refuse_response(self, event: Event) -> Event | None:
        """The `error` for a `response.create` overriding what the pin fixed, or None if it may run."""
        response = event.get("response") or {}
        overrides = sorted(k for k in response if k in self._refused_response_fields)
        if not overrides:
            return None
        return error_event(
            f"response.{overrides[0]} cannot be set: fixed by the client secret this session was opened "
            "with; send the response.create without it",
            code="pinned_by_client_secret",
            event_id=event.get("event_id"),
            param="response." + overrides[0],
        )

    def allows(self, tool_name: str) -> bool:
        return self.allowed_tools is None or tool_name in self.allowed_tools
