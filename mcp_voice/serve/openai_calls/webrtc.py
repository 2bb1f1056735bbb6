"""`POST /v1/realtime/calls` on serve: a browser's WebRTC call to OpenAI, with our tools run server-side.

The browser posts its SDP offer (multipart `sdp` + `session`, as to OpenAI, or a bare
`application/sdp` body) with serve's credential. Serve adds the host's tools to the session,
forwards it with the OpenAI key (which never reaches the browser), returns OpenAI's SDP answer and
`Location`, and joins the call with a sideband session for its tools.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_voice.protocol.openai_calls import CallsAPI, CallsAPIError
from mcp_voice.serve.keys import Credential, authenticate
from mcp_voice.serve.openai_calls.ownership import CallOwnership
from mcp_voice.serve.openai_calls.settings import CallsSettings
from mcp_voice.serve.openai_calls.sideband import SidebandOpener, open_sideband, run_call_session
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateUnavailable
from mcp_voice.session.context import CallContext, SessionObserver
from mcp_voice.session.pin import NOT_PINNED
from mcp_voice.session.settings import HostSettings
from mcp_voice.session.tools import SessionTools
from mcp_voice.tools.client_urls import ClientServerPolicy, UrlRefused
from mcp_voice.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from mcp_voice.serve.settings import ServeSettings

log = logging.getLogger("mcp_voice.serve.calls")

MAX_OFFER_BYTES = 1 << 20


async def credential_for(request: Request) -> Credential | None:
    """Who may create a call: the same check as the relay WebSocket (an API key or a client secret)."""
    return await authenticate(request)


async def offered_tools(
    registry: ToolRegistry, host: HostSettings, own: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The tools a WebRTC offer sends OpenAI: the session's tools expanded as the call's host will
    (an `mcp` entry naming a host server becomes its allowed function tools, nothing more), and a
    hosted `mcp` entry only if `client_server_urls` allows its URL and it is no link-local address
    (a cloud's metadata service); raises `UrlRefused` otherwise."""
    policy = ClientServerPolicy(
        tuple(host.client_server_urls), tuple(host.client_server_headers), host.client_server_timeout_s
    )
    tools = SessionTools(registry, auto=host.register_plugin_tools, allow_urls=host.allow_client_servers,
                         url_policy=policy)  # fmt: skip
    try:
        for problem in await tools.apply(own) if own else ():
            log.warning("webrtc: tool not kept: %s", problem)
        offered = tools.upstream_tools()
    finally:
        await tools.aclose()
    for entry in offered:
        if entry.get("type") == "mcp":
            url = entry.get("server_url")
            if not isinstance(url, str):
                raise UrlRefused(f"the mcp entry {entry.get('server_label')!r} names no server_url")
            policy.check(url)
            if _link_local(url):
                raise UrlRefused("link-local addresses (a cloud's metadata service) are never passed on")
    return offered


def _link_local(url: str) -> bool:
    try:
        address = ipaddress.ip_address((urlsplit(url).hostname or "").strip("[]"))
    except ValueError:
        return False
    return address.is_link_local


class _BadOffer(Exception):
    pass


def _error(message: str, status: int, code: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status
    )


class WebRTCCalls:
    """The endpoint of one serve app."""

    def __init__(
        self,
        registry: ToolRegistry,
        settings: ServeSettings,
        calls: CallsSettings,
        observer: SessionObserver | None,
        tls: Callable[[], ssl.SSLContext] | None = None,
        slots: SessionSlots | None = None,
        ownership: CallOwnership | None = None,
    ) -> None:
        self.slots = slots if slots is not None else SessionSlots(settings.max_sessions)
        self.registry = registry
        self.ownership = ownership
        """Leases for the call (shared with the webhook's); None: run it unowned."""
        self.settings = settings
        self.calls = calls
        self.observer = observer
        self.tls = tls

    async def handle(self, request: Request) -> Response:
        try:
            credential = await credential_for(request)
        except StateUnavailable as exc:
            return _error(f"cannot check the client secret now: {exc}", 503, "unavailable")
        if credential is None:
            return _error(
                "invalid or missing API key or client secret (send Authorization: Bearer <key>)",
                401,
                "unauthorized",
            )
        off = self.calls.webrtc_off
        if off is not None:
            return _error(f"WebRTC calls are off: {off}", 503, "unavailable")
        try:
            sdp, session = await self._offer(request)
        except _BadOffer as exc:
            return _error(str(exc), 400, "invalid_offer")
        # The slot is taken here, before OpenAI creates the call (a check here and a take after
        # the answer let concurrent offers all pass the check): the sideband holds it; any answer
        # without one gives it back.
        if not self.slots.take():
            return _error(self.slots.refusal(), 503, "session_limit_reached")
        response: Response | None = None
        try:
            response = await self._create(credential, sdp, session)
        finally:
            if response is None or response.background is None:
                self.slots.release()
        return response

    async def _create(self, credential: Credential, sdp: str, session: dict[str, Any]) -> Response:
        """Create the call at OpenAI (a slot is held for it) and its sideband session, to run after."""
        # A client secret's pinned config wins over what the browser sent, as on the relay.
        session = {**session, **{k: v for k, v in credential.session.items() if k not in NOT_PINNED}}
        own_tools = [t for t in session.get("tools") or () if isinstance(t, dict)]
        host = self.settings.host
        if credential.session:  # the call's host holds the pin too: only the secret's tools run
            host = dataclasses.replace(host, pinned_session=credential.session)
        try:
            offered = await offered_tools(self.registry, host, own_tools)
        except UrlRefused as exc:
            return _error(f"session.tools: {exc}", 400, "invalid_value")
        forwarded = {**self.calls.accept_session(self.settings.model, []), **session}
        if offered:
            forwarded["tools"] = offered
        api_key = self.calls.api_key or ""
        async with CallsAPI(api_key, self.calls.rest_base, tls=self.tls) as api:
            try:
                created = await api.create(sdp, forwarded)
            except CallsAPIError as exc:
                log.warning("webrtc: %s", exc)
                status = exc.status if exc.status is not None and 400 <= exc.status < 500 else 502
                return _error(str(exc), status, "upstream_refused")
        headers = {"Location": created.location} if created.location else {}
        background = None
        if created.call_id:
            context = CallContext(transport="webrtc", call_id=created.call_id)
            opener = self._opener(created.call_id, api_key)
            if self.ownership is not None and not credential.session:
                background = BackgroundTask(self._held, self.ownership.start, context, own_tools, opener)
            else:  # a pinned call runs here, unowned: its host holds the pin (a takeover would not)
                background = BackgroundTask(
                    self._held,
                    run_call_session,
                    self.registry,
                    opener,
                    host,
                    approval=self.calls.approval,
                    context=context,
                    observer=self.observer,
                    extra_tools=own_tools,
                    slots=self.slots,
                )
        else:
            log.warning("webrtc: OpenAI's answer has no Location: the call runs without our tools")
        return Response(
            created.sdp,
            status_code=created.status,
            media_type="application/sdp",
            headers=headers,
            background=background,
        )

    def _opener(self, call_id: str, api_key: str) -> SidebandOpener:
        ws_base = self.calls.ws_base
        return lambda: open_sideband(call_id, api_key=api_key, ws_base=ws_base)

    async def _offer(self, request: Request) -> tuple[str, dict[str, Any]]:
        """The SDP offer and the session config (empty when the browser sent none)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/sdp":
            body = await request.body()
            if len(body) > MAX_OFFER_BYTES:
                raise _BadOffer("the SDP offer is too large")
            return body.decode(errors="replace"), {}
        if content_type != "multipart/form-data":
            raise _BadOffer("send multipart/form-data (sdp, session) or an application/sdp body")
        async with request.form(max_files=2, max_fields=4, max_part_size=MAX_OFFER_BYTES) as form:
            sdp = await _text(form.get("sdp"))
            raw_session = await _text(form.get("session"))
        if not sdp:
            raise _BadOffer("the 'sdp' part is missing")
        if not raw_session:
            return sdp, {}
        try:
            session = json.loads(raw_session)
        except ValueError:
            raise _BadOffer("the 'session' part is not JSON") from None
        if not isinstance(session, dict):
            raise _BadOffer("the 'session' part must be a JSON object")
        return sdp, session

    async def _held(self, run: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any) -> None:
        """The call's session, giving back the slot `handle` took for it when it ends."""
        with self.slots.held():
            await run(*args, **kwargs)


async def _text(value: str | UploadFile | None) -> str | None:
    if isinstance(value, UploadFile):
        return (await value.read()).decode(errors="replace")
    return value
