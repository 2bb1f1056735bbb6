"""CallContext: who a session is for, whatever carried it (a relay WebSocket, a Twilio stream, an
OpenAI SIP call, a WebRTC sideband, an embedding program).

One type for every transport, so a plugin written for phone calls works the same for Twilio and
for OpenAI SIP. Plugins see it twice: through the `session_started` / `session_ended` hooks, and
on every tool call as the MCP request's `_meta` key `dev.mcp-voice/call` (so a stdio or HTTP
server gets it too, the pure-MCP way). Caller numbers and SIP headers come from the network:
they are untrusted data, never credentials.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mcp_voice.tools.spec import META_PREFIX

META_CALL = META_PREFIX + "call"
"""`_meta` key of a tools/call request: the calling session's `CallContext.meta()`."""

Transport = Literal["relay", "twilio", "sip", "webrtc", "embedded"]


def new_session_id() -> str:
    return "sess_" + secrets.token_hex(8)


@dataclass(frozen=True)
class CallContext:
    """What is known about one session's call. Frozen: transports build it once, at the start."""

    transport: Transport = "embedded"
    session_id: str = field(default_factory=new_session_id)
    call_id: str | None = None
    """The telephony or realtime call's id: Twilio's CallSid, OpenAI's `call_id`."""
    caller: str | None = None
    """Who is calling (Twilio `From`, the SIP `From` user): untrusted."""
    callee: str | None = None
    """The number or address called (Twilio `To`, the SIP `To`/request URI): untrusted."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Custom parameters of the call (Twilio `<Parameter>`s, a client's `?key=value`s)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """SIP headers as the call brought them (names as sent): untrusted."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Anything else a transport knows (Twilio's streamSid and accountSid, ...)."""

    def meta(self) -> dict[str, Any]:
        """The JSON form sent to MCP servers with each tool call (only the fields that are set)."""
        shown: dict[str, Any] = {"transport": self.transport, "session_id": self.session_id}
        for key in ("call_id", "caller", "callee"):
            value = getattr(self, key)
            if value is not None:
                shown[key] = value
        if self.parameters:
            shown["parameters"] = dict(self.parameters)
        if self.headers:
            shown["headers"] = dict(self.headers)
        return shown


class SessionObserver(Protocol):
    """Told when a session starts and ends (the plugin hooks, metrics, logs implement it)."""

    def session_started(self, context: CallContext) -> None: ...

    def session_ended(self, context: CallContext, reason: str) -> None: ...
