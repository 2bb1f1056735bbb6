"""`POST /twilio/voice`: Twilio asks what to do with an incoming call; the answer streams it here.

The answer is TwiML `<Connect><Stream url="wss://PUBLIC/twilio/media">`, with the caller's and
the called number as `<Parameter>`s: Twilio's stream `start` message carries the CallSid but not
the numbers, and the per-call context wants them. With an auth token configured, a request
without a valid `X-Twilio-Signature` gets 403 and no TwiML (nothing about the server leaks).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.twiml.voice_response import Connect, VoiceResponse

from mcp_voice.serve.deny import shown as shown_value
from mcp_voice.serve.state import StateStore, StateUnavailable
from mcp_voice.serve.state.memory import MemoryState
from mcp_voice.serve.twilio.settings import TwilioSettings
from mcp_voice.serve.twilio.signature import SIGNATURE_HEADER, SignatureCheck

log = logging.getLogger("mcp_voice.serve.twilio")

FORWARDED_PARAMETERS = ("From", "To", "Direction", "CallerName", "FromCountry")
"""Webhook fields handed to the stream (and so to `CallContext`), when Twilio sent them."""
FORBIDDEN = "invalid or missing X-Twilio-Signature\n"
MAX_LOGGED_CHARS = 64
"""Caller-supplied fields are cut to this in log lines (a real CallSid is 34 characters)."""
REPLAYED = "this CallSid was answered already\n"
CALL_REPLAY_TTL_S = 4 * 3600
"""Longer than a call lasts (Twilio ends calls after 4 hours)."""


def twiml_answer(settings: TwilioSettings, form: dict[str, str]) -> str:
    """The TwiML that connects the call's audio to our media WebSocket."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=settings.media_url)
    for name in FORWARDED_PARAMETERS:
        if form.get(name):
            stream.parameter(name=name, value=form[name])
    response.append(connect)
    return str(response.to_xml())


class VoiceWebhook:
    """The Starlette endpoint for `POST /twilio/voice`."""

    def __init__(
        self, settings: TwilioSettings, check: SignatureCheck, state: StateStore | None = None
    ) -> None:
        self.settings = settings
        self.check = check
        self.state: StateStore = state if state is not None else MemoryState()

    async def handle(self, request: Request) -> Response:
        form = await request.form()
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        url = self.settings.voice_url + (f"?{request.url.query}" if request.url.query else "")
        if not self.check.valid(url, form, request.headers):
            shown = "missing" if SIGNATURE_HEADER not in request.headers else "wrong"
            sid = shown_value(fields.get("CallSid") or "", MAX_LOGGED_CHARS)
            log.warning("refused a Twilio voice webhook: %s signature (CallSid %s)", shown, sid)
            return PlainTextResponse(FORBIDDEN, status_code=403)
        call = fields.get("CallSid")
        if call:  # one answer per call, on whichever process: a replayed request gets none
            try:
                first = await self.state.first_seen(f"twilio-call:{call}", CALL_REPLAY_TTL_S)
            except StateUnavailable as exc:
                log.warning(
                    "Twilio voice webhook for %s not taken: %s", shown_value(call, MAX_LOGGED_CHARS), exc
                )
                return PlainTextResponse(f"cannot take calls now: {exc}\n", status_code=503)
            if not first:
                log.warning(
                    "refused a Twilio voice webhook: CallSid %s was answered already",
                    shown_value(call, MAX_LOGGED_CHARS),
                )
                return PlainTextResponse(REPLAYED, status_code=409)
        log.info("incoming call %s", shown_value(call or "", MAX_LOGGED_CHARS))
        return Response(twiml_answer(self.settings, fields), media_type="application/xml")
