"""`/twilio/media`: the WebSocket Twilio streams a call's audio to; one call = one host session.

The upgrade request is signed like a webhook (the `wss://` URL, no parameters), so it is checked
the same way before anything else happens. Then: wait for Twilio's `start` (the streamSid and
CallSid), open the upstream, build the call's `CallContext`, and run a `SessionHost` whose client
is the call (`TwilioClient`). The caller hanging up (`stop`) ends the session; the session
ending (the upstream gone for good) closes the stream, which ends the call.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import orjson
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from mcp_voice.channels import ChannelClosed, EventChannel
from mcp_voice.protocol.events import new_event_id
from mcp_voice.protocol.reconnect import ReconnectingUpstream
from mcp_voice.serve.channel import WebSocketChannel
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.targets import display_name
from mcp_voice.serve.twilio.bridge import StreamStart, TwilioClient, pcmu_session_update
from mcp_voice.serve.twilio.settings import TwilioSettings
from mcp_voice.serve.twilio.signature import SIGNATURE_HEADER, SignatureCheck
from mcp_voice.session.context import CallContext, SessionObserver
from mcp_voice.session.host import SessionHost
from mcp_voice.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from mcp_voice.serve.settings import ServeSettings, UpstreamOpener

log = logging.getLogger("mcp_voice.serve.twilio")

START_TIMEOUT_S = 10.0
"""Twilio sends `connected` and `start` at once; a socket that sends neither is not a call."""
HANGUP_SLACK_S = 5.0
"""After a hang-up, running calls get their own timeout plus this to finish before they are cancelled."""
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


def call_upstream(
    settings: ServeSettings, opener: UpstreamOpener
) -> AbstractAsyncContextManager[EventChannel]:
    """The one place a phone call opens its upstream: the relay's reconnecting upstream, so a drop
    (or the session's time limit) is silence for the caller, not a hang-up."""
    return ReconnectingUpstream(
        lambda: opener(settings.upstream, model=settings.model, api_key=settings.api_key),
        policy=settings.reconnect,
    )


def call_context(start: StreamStart) -> CallContext:
    params = dict(start.parameters)
    caller, callee = params.pop("From", None), params.pop("To", None)
    return CallContext(
        transport="twilio",
        call_id=start.call_sid,
        caller=caller,
        callee=callee,
        parameters=params,
        extra={"streamSid": start.stream_sid, "accountSid": start.account_sid},
    )


async def finish_calls(host: SessionHost) -> None:
    """The caller hung up: each running call follows its `on_barge_in` policy, as if interrupted.

    `cancel` calls are cancelled now; `keep` and `announce` calls may finish (within their own
    timeout), so a hang-up does not cut a booking or a payment off halfway. Their results reach
    the conversation; nothing is played any more.
    """
    host.calls.barge_in()
    timeouts = [call.view.tool.policy.timeout_s for call in host.calls.running]
    with anyio.move_on_after(max(timeouts, default=0.0) + HANGUP_SLACK_S):
        await host.calls.wait_idle()
    if host.calls.running:
        log.warning("call ended with %d tool call(s) still running: cancelled", len(host.calls.running))


class MediaEndpoint:
    """ASGI app for the media WebSocket."""

    def __init__(
        self,
        registry: ToolRegistry,
        settings: ServeSettings,
        twilio: TwilioSettings,
        opener: UpstreamOpener,
        check: SignatureCheck,
        observer: SessionObserver | None = None,
        slots: SessionSlots | None = None,
    ) -> None:
        self.slots = slots if slots is not None else SessionSlots(settings.max_sessions)
        self.live: set[str] = set()
        """streamSids and CallSids of the calls in progress: a replayed start is refused."""
        self.registry = registry
        self.settings = settings
        self.twilio = twilio
        self.opener = opener
        self.check = check
        self.observer = observer
        self.calls = 0
        """Calls in progress."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        query = websocket.url.query
        url = self.twilio.media_url + (f"?{query}" if query else "")
        if not self.check.valid(url, {}, websocket.headers):
            shown = "missing" if SIGNATURE_HEADER not in websocket.headers else "wrong"
            log.warning("refused a Twilio media stream: %s signature", shown)
            if "websocket.http.response" in scope.get("extensions", {}):
                body = "invalid or missing X-Twilio-Signature\n"
                await websocket.send_denial_response(PlainTextResponse(body, status_code=403))
            else:
                await websocket.close(code=POLICY_VIOLATION, reason="invalid or missing X-Twilio-Signature")
            return
        await websocket.accept()
        channel = WebSocketChannel(receive, send)
        start = await self._wait_for_start(channel)
        if start is None:
            await channel.close(POLICY_VIOLATION, "expected a Twilio start message")
            return
        ids = {start.stream_sid, *((start.call_sid,) if start.call_sid else ())}
        if ids & self.live:
            log.warning("refused a Twilio media stream: stream %s is already live", start.stream_sid)
            await channel.close(POLICY_VIOLATION, "this stream or call is already live")
            return
        if not self.slots.take():
            log.warning("refused a Twilio media stream: %s", self.slots.refusal())
            await channel.close(TRY_AGAIN_LATER, "too many sessions")
            return
        self.calls += 1
        self.live |= ids
        try:
            with self.slots.held():
                await self._call(channel, start)
        finally:
            self.calls -= 1
            self.live -= ids

    @staticmethod
    async def _wait_for_start(channel: WebSocketChannel) -> StreamStart | None:
        with anyio.move_on_after(START_TIMEOUT_S):
            while True:
                try:
                    raw = await channel.receive()
                    message = orjson.loads(raw) if isinstance(raw, str) else raw
                except ChannelClosed:
                    return None
                except orjson.JSONDecodeError:
                    continue
                if isinstance(message, dict) and message.get("event") == "start":
                    try:
                        return StreamStart.parse(message)
                    except ValueError as exc:
                        log.warning("refused a Twilio media stream: %s", exc)
                        return None
        log.warning("refused a Twilio media stream: no start message within %.0f s", START_TIMEOUT_S)
        return None

    async def _call(self, channel: WebSocketChannel, start: StreamStart) -> None:
        async with AsyncExitStack() as stack:
            try:
                upstream = await stack.enter_async_context(call_upstream(self.settings, self.opener))
            except Exception as exc:
                await self._upstream_failed(channel, start, exc)
                return
            shown = display_name(self.settings.upstream)
            log.info("call %s started (stream %s, upstream %s)", start.call_sid, start.stream_sid, shown)
            client = TwilioClient(channel, start)
            host = SessionHost(
                self.registry,
                upstream,
                client,
                self.settings.host,
                context=call_context(start),
                observer=self.observer,
            )
            await client.queue(pcmu_session_update())
            if self.twilio.greeting:
                greet = {"instructions": self.twilio.greeting}
                await client.queue({"type": "response.create", "event_id": new_event_id(), "response": greet})
            channel.closing = lambda: (host.close_code, host.close_reason)
            with self.slots.running(host):
                await self._run(host, client)
        log.info("call %s ended: %s", start.call_sid, host.end_reason)

    async def _upstream_failed(self, channel: WebSocketChannel, start: StreamStart, exc: Exception) -> None:
        """Log why (without secrets) and end the call: there is nobody to talk to."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.settings.api_key:
            reason = reason.replace(self.settings.api_key, "***")
        upstream = display_name(self.settings.upstream)
        log.warning("call %s: could not connect to upstream %s: %s", start.call_sid, upstream, reason)
        await channel.close(INTERNAL_ERROR, "upstream unavailable")

    @staticmethod
    async def _run(host: SessionHost, client: TwilioClient) -> None:
        async def dtmf(digit: str) -> None:
            try:
                await host.dtmf(digit)
            except ChannelClosed:
                host.stop()

        async def hangup() -> None:
            await finish_calls(host)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(client.pump_twilio, dtmf, hangup)
            await host.run()
            task_group.cancel_scope.cancel()
