"""The relay endpoint, `/v1/realtime`: one client WebSocket is one upstream and one session host.

Authenticate, open one upstream connection, adapt the socket to an `EventChannel` (beta clients
wrapped in `BetaClientChannel`) and hand both to the session host. Nothing here knows about
tools or responses.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import AsyncExitStack

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from mcp_voice.channels import ChannelClosed, EventChannel
from mcp_voice.protocol.dialects import BetaClientChannel, dialect_from_headers
from mcp_voice.protocol.events import error_event
from mcp_voice.protocol.reconnect import ReconnectingUpstream
from mcp_voice.serve import auth
from mcp_voice.serve.channel import WebSocketChannel
from mcp_voice.serve.connection import connection_settings
from mcp_voice.serve.keys import authenticate
from mcp_voice.serve.observe import ServeMetrics
from mcp_voice.serve.settings import ServeSettings, UpstreamOpener
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateUnavailable
from mcp_voice.serve.targets import display_name
from mcp_voice.session.context import CallContext, SessionObserver
from mcp_voice.session.host import HostSettings, SessionHost
from mcp_voice.tools.registry import ToolRegistry

log = logging.getLogger("mcp_voice.serve")

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013


class RealtimeEndpoint:
    """ASGI app for `/v1/realtime`: one client WebSocket = one upstream + one session host."""

    def __init__(
        self,
        registry: ToolRegistry,
        settings: ServeSettings,
        opener: UpstreamOpener,
        observer: SessionObserver | None = None,
        metrics: ServeMetrics | None = None,
        slots: SessionSlots | None = None,
    ) -> None:
        self.metrics = metrics or ServeMetrics()
        self.registry = registry
        self.settings = settings
        self.opener = opener
        self.observer = observer
        self.slots = slots if slots is not None else SessionSlots(settings.max_sessions)
        """Shared with every other transport of the app (`max_sessions` counts them all)."""

    @property
    def sessions(self) -> int:
        """Sessions running now in the whole app (relay, phone, SIP, WebRTC)."""
        return self.slots.active

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        offered: list[str] = list(scope.get("subprotocols") or [])
        try:
            credential = await authenticate(websocket)
        except StateUnavailable as exc:
            log.warning("session refused: %s", exc)
            await self._deny(websocket, scope, 503, f"cannot check the client secret now: {exc}")
            return
        if credential is None:
            await self._deny(websocket, scope)
            return
        model = credential.session.get("model") or websocket.query_params.get("model") or self.settings.model
        await websocket.accept(subprotocol=auth.choose_subprotocol(offered))
        host_settings = connection_settings(self.settings.host, websocket.query_params)
        if isinstance(host_settings, str):
            await websocket.send_json(error_event(host_settings, code="invalid_value", param="host_calls"))
            await websocket.close(POLICY_VIOLATION, "bad host_calls")
            return
        channel = WebSocketChannel(receive, send)
        client: EventChannel = channel
        if dialect_from_headers(websocket.headers) == "beta":
            client = BetaClientChannel(channel)
        if credential.session:  # held by the host on each parsed event (session/pin.py)
            host_settings = dataclasses.replace(host_settings, pinned_session=credential.session)
        if not self.slots.take():
            await self._refuse(channel, client, self.slots.refusal())
            return
        with self.slots.held():
            await self._session(channel, client, model, host_settings)

    async def _session(
        self, channel: WebSocketChannel, client: EventChannel, model: str, host_settings: HostSettings
    ) -> None:
        async with AsyncExitStack() as stack:
            settings = self.settings
            try:
                reconnecting = await stack.enter_async_context(
                    ReconnectingUpstream(
                        lambda: self.opener(settings.upstream, model=model, api_key=settings.api_key),
                        policy=settings.reconnect,
                        on_reconnect=self.metrics.record_reconnect,
                    )
                )
            except Exception as exc:
                await self._upstream_failed(channel, client, exc)
                return
            context = CallContext(
                transport="relay", extra={"model": model, "upstream": display_name(self.settings.upstream)}
            )
            upstream, client = self.metrics.tap(context, reconnecting, client, self.settings, model)
            host = SessionHost(
                self.registry,
                upstream,
                client,
                host_settings,
                context=context,
                observer=self.metrics.observer(self.observer),
            )
            channel.closing = lambda: (host.close_code, host.close_reason)
            with self.slots.running(host):
                await host.run()
        if not channel.client_closed:
            await channel.close(host.close_code, host.close_reason)

    async def shutdown(self, reason: str = "server shutting down") -> None:
        """Close every session of the app with 1001 (before the server drops the sockets): relay,
        Twilio, SIP and WebRTC alike (`SessionSlots.live`), waiting a little."""
        await self.slots.end_all(reason, GOING_AWAY)

    async def _refuse(self, channel: WebSocketChannel, client: EventChannel, message: str) -> None:
        log.warning("session refused: %s", message)
        await _close_with_error(
            channel, client, message, "session_limit_reached", TRY_AGAIN_LATER, "too many sessions"
        )

    async def _upstream_failed(self, channel: WebSocketChannel, client: EventChannel, exc: Exception) -> None:
        """Tell the client why (without secrets), then close: it can do nothing more here."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.settings.api_key:
            reason = reason.replace(self.settings.api_key, "***")
        message = f"could not connect to upstream {display_name(self.settings.upstream)}: {reason}"
        log.warning("%s", message)
        await _close_with_error(
            channel, client, message, "upstream_unavailable", INTERNAL_ERROR, "upstream unavailable"
        )

    @staticmethod
    async def _deny(
        websocket: WebSocket,
        scope: Scope,
        status: int = 401,
        body: str = "invalid or missing token (send Authorization: Bearer <token>)",
    ) -> None:
        """HTTP 401 (503: the secret could not be checked) before the upgrade, else close 1008/1013."""
        if "websocket.http.response" in scope.get("extensions", {}):
            await websocket.send_denial_response(PlainTextResponse(body + "\n", status_code=status))
        elif status == 503:
            await websocket.close(code=TRY_AGAIN_LATER, reason="state store unavailable")
        else:
            await websocket.close(code=POLICY_VIOLATION, reason="invalid or missing token")


async def _close_with_error(
    channel: WebSocketChannel, client: EventChannel, message: str, code: str, close_code: int, reason: str
) -> None:
    """A session that cannot start: the client gets a GA `error` saying why, then the close."""
    try:
        await client.send(error_event(message, code=code, type="server_error"))
    except ChannelClosed:
        return
    await channel.close(close_code, reason)
