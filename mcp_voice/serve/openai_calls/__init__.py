"""Calls whose audio goes straight to OpenAI, with our tools run over a sideband connection.

- `POST /openai/webhook` (incoming.py): signed `realtime.call.incoming` webhooks of OpenAI SIP
  calls, answered by the `incoming_call` plugin hook or the configured session.
- `POST /v1/realtime/calls` (webrtc.py): a browser's WebRTC offer, forwarded with the OpenAI key.
- sideband.py: the session host attached to such a call with no client.

The transport facts (REST calls, URLs) are in `mcp_voice.protocol.openai_calls`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.routing import Route

from mcp_voice.protocol.openai_calls import tls_context_once
from mcp_voice.serve.openai_calls.incoming import IncomingCalls
from mcp_voice.serve.openai_calls.ownership import CallOwnership
from mcp_voice.serve.openai_calls.settings import CallsSettings, calls_settings
from mcp_voice.serve.openai_calls.webrtc import WebRTCCalls
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateStore
from mcp_voice.session.context import SessionObserver
from mcp_voice.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from mcp_voice.serve.settings import ServeSettings

__all__ = ["CallOwnership", "CallsSettings", "calls_settings", "openai_call_routes"]

log = logging.getLogger("mcp_voice.serve.calls")

WEBHOOK_PATH = "/openai/webhook"
WEBRTC_PATH = "/v1/realtime/calls"


def openai_call_routes(
    registry: ToolRegistry,
    settings: ServeSettings,
    observer: SessionObserver | None = None,
    slots: SessionSlots | None = None,
    state: StateStore | None = None,
    ownership: CallOwnership | None = None,
) -> list[Route]:
    """The two routes, always present: when a part is off it answers 503 saying why (and serve logs it)."""
    calls = settings.calls
    tls = tls_context_once()
    slots = slots if slots is not None else SessionSlots(settings.max_sessions)
    incoming = IncomingCalls(registry, settings, calls, observer, tls, slots, state, ownership)
    webrtc = WebRTCCalls(registry, settings, calls, observer, tls, slots, incoming.ownership)
    for path, off in ((WEBHOOK_PATH, calls.webhook_off), (WEBRTC_PATH, calls.webrtc_off)):
        if off is None:
            log.info("POST %s is on", path)
        else:  # a warning only when the operator asked for calls: relay-only setups need no noise
            log.log(logging.WARNING if calls.configured else logging.INFO, "POST %s is off: %s", path, off)
    return [
        Route(WEBHOOK_PATH, incoming.handle, methods=["POST"], name="openai_webhook"),
        Route(WEBRTC_PATH, webrtc.handle, methods=["POST"], name="openai_webrtc"),
    ]
