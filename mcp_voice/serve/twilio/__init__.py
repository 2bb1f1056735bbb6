"""Twilio phone calls: the voice webhook (TwiML), signature checks, the media-stream bridge.

`twilio_routes(...)` is all the serve app needs. Phone calls are on once a public URL is
configured (`ServeSettings.twilio`); otherwise the webhook answers 503 saying so. The Twilio
library (the `twilio` extra) is imported only when they are on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from mcp_voice.serve.twilio.settings import MEDIA_PATH, VOICE_PATH, TwilioSettings

if TYPE_CHECKING:
    from mcp_voice.serve.settings import ServeSettings, UpstreamOpener
    from mcp_voice.serve.slots import SessionSlots
    from mcp_voice.serve.state import StateStore
    from mcp_voice.session.context import SessionObserver
    from mcp_voice.tools.registry import ToolRegistry

__all__ = ["TwilioSettings", "twilio_routes"]


def twilio_routes(
    registry: ToolRegistry,
    settings: ServeSettings,
    opener: UpstreamOpener,
    observer: SessionObserver | None = None,
    slots: SessionSlots | None = None,
    state: StateStore | None = None,
) -> list[BaseRoute]:
    """`POST /twilio/voice` and the WebSocket `/twilio/media`, or nothing when calls are off."""
    twilio = getattr(settings, "twilio", None)
    if twilio is None:
        return [Route(VOICE_PATH, _calls_off, methods=["POST"])]
    from mcp_voice.serve.twilio.media import MediaEndpoint
    from mcp_voice.serve.twilio.signature import SignatureCheck
    from mcp_voice.serve.twilio.webhook import VoiceWebhook

    check = SignatureCheck(twilio.auth_token)
    media = MediaEndpoint(registry, settings, twilio, opener, check, observer, slots)
    return [
        Route(VOICE_PATH, VoiceWebhook(twilio, check, state).handle, methods=["POST"]),
        WebSocketRoute(MEDIA_PATH, media, name="twilio_media"),
    ]


async def _calls_off(request: Request) -> PlainTextResponse:
    """Twilio (or an operator with curl) learns why no call is answered, instead of a bare 404."""
    return PlainTextResponse(OFF_REASON, status_code=503)


OFF_REASON = "phone calls are off: serve has no public URL (--public-url or [twilio] public_url)\n"
