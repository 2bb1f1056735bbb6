"""`POST /openai/webhook`: signed `realtime.call.incoming` deliveries become answered calls with our tools.

The delivery is verified (signature, 5-minute window, replayed ids ignored) and acknowledged at
once; the call is then decided (the `incoming_call` plugin hook, else accepted with the configured
session), answered through OpenAI's calls API and, when accepted, joined by a sideband session
that runs after the response, for as long as the call lasts.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_voice.protocol.openai_calls import CallsAPI, CallsAPIError
from mcp_voice.serve.openai_calls.ownership import CallOwnership
from mcp_voice.serve.openai_calls.settings import CallsSettings
from mcp_voice.serve.openai_calls.sideband import SidebandOpener, open_sideband, run_call_session
from mcp_voice.serve.openai_calls.webhooks import TOLERANCE_S, WebhookRejected, verify
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.serve.state import StateStore, StateUnavailable
from mcp_voice.serve.state.memory import MemoryState
from mcp_voice.session.context import CallContext, SessionObserver
from mcp_voice.session.decision import CallDecision
from mcp_voice.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from mcp_voice.serve.settings import ServeSettings

log = logging.getLogger("mcp_voice.serve.calls")

Event = dict[str, Any]
Decider = Callable[[CallContext], "CallDecision | None"]
MAX_BODY_BYTES = 1 << 20
BUSY_HERE = 486
"""The SIP answer when every session slot is taken."""
REPLAY_TTL_S = 2 * TOLERANCE_S
"""Replay keys outlive the signature window: an older delivery fails the timestamp check anyway."""
INCOMING = "realtime.call.incoming"
_SIP_USER = re.compile(r"<?sips?:([^@;>]+)|<?tel:([^;>]+)", re.IGNORECASE)


def sip_user(header: str | None) -> str | None:
    """`"Bob" <sip:+15550100@host>;tag=x` -> `+15550100` (the number or user of a From/To header)."""
    if not header:
        return None
    match = _SIP_USER.search(header)
    if match is None:
        return None
    return match.group(1) or match.group(2)


def call_context(data: Mapping[str, Any]) -> CallContext:
    """The context of a ringing call from the webhook's `data` (headers as sent; repeats joined)."""
    headers: dict[str, str] = {}
    for entry in data.get("sip_headers") or ():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("value"), str)
        ):
            name = entry["name"]
            headers[name] = f"{headers[name]}, {entry['value']}" if name in headers else entry["value"]
    lowered = {k.lower(): v for k, v in headers.items()}
    return CallContext(
        transport="sip",
        call_id=str(data["call_id"]),
        caller=sip_user(lowered.get("from")),
        callee=sip_user(lowered.get("to")),
        headers=headers,
        extra={"sip_media_security": data["sip_media_security"]} if data.get("sip_media_security") else {},
    )


class IncomingCalls:
    """The webhook endpoint of one serve app; its replay memory is the app's state store."""

    def __init__(
        self,
        registry: ToolRegistry,
        settings: ServeSettings,
        calls: CallsSettings,
        observer: SessionObserver | None,
        tls: Callable[[], ssl.SSLContext] | None = None,
        slots: SessionSlots | None = None,
        state: StateStore | None = None,
        ownership: CallOwnership | None = None,
    ) -> None:
        self.slots = slots if slots is not None else SessionSlots(settings.max_sessions)
        self.registry = registry
        self.settings = settings
        self.calls = calls
        self.observer = observer
        self.tls = tls
        self.decide: Decider | None = getattr(observer, "incoming_call", None)
        self.state: StateStore = state if state is not None else MemoryState()
        if ownership is None:
            ownership = CallOwnership(self.state, settings.lease_s, slots=self.slots)
        self.ownership = ownership
        self.ownership.serve_with(self.run_call, self.opener_for, registry)
        self.active: dict[str, CallContext] = {}
        """Calls being answered or running, by call id: one session per call."""

    async def handle(self, request: Request) -> Response:
        off = self.calls.webhook_off
        if off is not None or self.calls.webhook_key is None:
            return JSONResponse({"error": f"OpenAI webhooks are off: {off}"}, status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "webhook body too large"}, status_code=413)
        try:
            webhook_id = verify(self.calls.webhook_key, body, request.headers)
        except WebhookRejected as exc:
            log.warning("webhook refused: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        try:
            event = json.loads(body)
            kind = event["type"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "the body is not a webhook event"}, status_code=400)
        data = event.get("data")
        if kind == INCOMING and (
            not isinstance(data, dict) or not isinstance(data.get("call_id"), str) or not data["call_id"]
        ):
            return JSONResponse({"error": "realtime.call.incoming without data.call_id"}, status_code=400)
        # A call is answered once, whichever delivery (a retry, a new delivery id, a replay) and
        # whichever process gets it: the replay key is the call id, set atomically in the store.
        key = f"openai-call:{data['call_id']}" if kind == INCOMING else f"openai-webhook:{webhook_id}"
        try:
            first = await self.state.first_seen(key, REPLAY_TTL_S)
        except StateUnavailable as exc:  # 503: OpenAI delivers again later, to us or another process
            log.warning("webhook %s not taken: %s", webhook_id, exc)
            return JSONResponse({"error": f"cannot take calls now: {exc}"}, status_code=503)
        if not first or (kind == INCOMING and data["call_id"] in self.active):
            log.info("webhook %s delivered again: ignored", webhook_id)
            return JSONResponse({"status": "duplicate"})
        if kind != INCOMING:
            return JSONResponse({"status": "ignored", "type": kind})
        context = call_context(data)
        self.active[data["call_id"]] = context
        return JSONResponse({"status": "ok"}, background=BackgroundTask(self.answer, context))

    def _decision(self, context: CallContext) -> CallDecision:
        """The deciders' answer; none (or a failing decider) means: accept with the configured session."""
        if self.decide is not None:
            try:
                decision = self.decide(context)
            except Exception:
                log.exception("call %s: the incoming_call decider failed; accepting", context.call_id)
                decision = None
            if isinstance(decision, CallDecision):
                return decision
        return CallDecision.accept()

    async def answer(self, context: CallContext) -> None:
        """Decide, answer OpenAI, and (accepted) run the call's session until it ends.

        A call holds one of the app's session slots; with none free it is rejected as busy (486).
        """
        try:
            if not self.slots.take():
                await self._busy(context.call_id or "")
                return
            with self.slots.held():
                await self._answer(context)
        finally:
            self.active.pop(context.call_id or "", None)

    async def _busy(self, call_id: str) -> None:
        log.warning("call %s rejected (486): %s", call_id, self.slots.refusal())
        async with CallsAPI(self.calls.api_key or "", self.calls.rest_base, tls=self.tls) as api:
            try:
                await api.reject(call_id, BUSY_HERE)
            except CallsAPIError as exc:
                log.warning("call %s: %s", call_id, exc)

    async def _answer(self, context: CallContext) -> None:
        call_id = context.call_id or ""
        decision = self._decision(context)
        api_key = self.calls.api_key or ""
        async with CallsAPI(api_key, self.calls.rest_base, tls=self.tls) as api:
            try:
                if decision.action == "reject":
                    await api.reject(call_id, decision.status_code)
                    log.info("call %s rejected (%d)", call_id, decision.status_code)
                    return
                if decision.action == "refer":
                    await api.refer(call_id, decision.target_uri or "")
                    log.info("call %s referred", call_id)
                    return
                session, extra = self.session_for(decision)
                await api.accept(call_id, session)
            except CallsAPIError as exc:
                log.warning("call %s: %s", call_id, exc)
                return
        log.info("call %s accepted", call_id)
        await self.ownership.start(context, extra, self.opener_for(call_id))

    def opener_for(self, call_id: str) -> SidebandOpener:
        """Fresh sideband connections to the call `call_id` (a reconnect or a takeover opens another)."""
        api_key, ws_base = self.calls.api_key or "", self.calls.ws_base
        return lambda: open_sideband(call_id, api_key=api_key, ws_base=ws_base)

    async def run_call(self, context: CallContext, tools: Sequence[Event], opener: SidebandOpener) -> None:
        """One call's session with this app's tools and settings (new, or taken over)."""
        await run_call_session(
            self.registry,
            opener,
            self.settings.host,
            approval=self.calls.approval,
            context=context,
            observer=self.observer,
            extra_tools=tools,
            slots=self.slots,
        )

    def session_for(self, decision: CallDecision) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The accept body (defaults, then the plugin's fields) and the plugin's own tools."""
        host_tools = self.registry.function_tools() if self.settings.host.register_plugin_tools else []
        session = self.calls.accept_session(self.settings.model, host_tools)
        extra = [t for t in decision.session.get("tools") or () if isinstance(t, dict)]
        session.update({k: v for k, v in decision.session.items() if k != "tools"})
        if extra or host_tools:
            session["tools"] = host_tools + extra
        return session, extra
