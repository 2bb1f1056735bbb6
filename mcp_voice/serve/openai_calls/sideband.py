"""The sideband: a session host attached to a call whose audio never passes through serve.

OpenAI lets a server join a SIP or WebRTC call with `wss://.../v1/realtime?call_id=...`; over it
the host sees the usual GA events and runs its tools, exactly as for a relayed session. There is
no client: `NoClient` stands in, dropping what the host would show a client and answering
approval requests itself when calls refuse approvals (nobody can click on a phone).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import anyio

from mcp_voice.channels import ChannelClosed, EventChannel
from mcp_voice.protocol.events import new_event_id, new_item_id
from mcp_voice.protocol.openai_calls import sideband_url
from mcp_voice.protocol.reconnect import ReconnectingUpstream, ReconnectPolicy
from mcp_voice.protocol.upstream import connect_upstream
from mcp_voice.serve.slots import SessionSlots
from mcp_voice.session.context import CallContext, SessionObserver
from mcp_voice.session.host import HostSettings, SessionHost
from mcp_voice.tools.registry import ToolRegistry

log = logging.getLogger("mcp_voice.serve.calls")

Event = dict[str, Any]
SidebandOpener = Callable[[], AbstractAsyncContextManager[EventChannel]]
"""Zero arguments, a fresh connection to the same call each time (what a reconnect needs)."""
REFUSED_REASON = "approval is refused on this call: nobody can confirm it here"


@asynccontextmanager
async def open_sideband(call_id: str, *, api_key: str, ws_base: str) -> AsyncIterator[EventChannel]:
    """One WebSocket to the call `call_id` (no `model`: the call already has its session)."""
    async with connect_upstream(sideband_url(ws_base, call_id), {"Authorization": f"Bearer {api_key}"}) as ws:
        yield ws


def attach_upstream(
    opener: SidebandOpener, policy: ReconnectPolicy | None = None
) -> AbstractAsyncContextManager[EventChannel]:
    """The one place a sideband connection is opened for a session.

    A drop reconnects to the same `call_id` with backoff and no replay (`resume`: the call went on
    at OpenAI, with its conversation); a normal close means the call ended, and ends the session.
    """
    return ReconnectingUpstream(opener, policy=policy, mode="resume")


class NoClient:
    """The client side of a sideband session: nobody listens, nobody speaks until the call ends.

    Sends are dropped, except approval requests, which are refused at once when `refuse` is set
    (with approvals on `auto` the host never asks). `receive` waits until the session closes it,
    so the host's client loop never ends the session on its own.
    """

    def __init__(self, *, refuse_approvals: bool) -> None:
        self._refuse = refuse_approvals
        self._send, self._receive = anyio.create_memory_object_stream[Event](math.inf)

    async def send(self, event: Event | str) -> None:
        if not self._refuse or not isinstance(event, dict) or event.get("type") != "conversation.item.done":
            return
        item = event.get("item") or {}
        if item.get("type") == "mcp_approval_request" and isinstance(item.get("id"), str):
            log.info("refusing approval for %s: calls refuse approvals", item.get("name"))
            answer = {
                "type": "mcp_approval_response",
                "id": new_item_id(),
                "approval_request_id": item["id"],
                "approve": False,
                "reason": REFUSED_REASON,
            }
            try:
                self._send.send_nowait(
                    {"type": "conversation.item.create", "event_id": new_event_id(), "item": answer}
                )
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                raise ChannelClosed from None

    async def receive(self) -> Event | str:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError) as exc:
            raise ChannelClosed("the call ended") from exc

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def call_host_settings(settings: HostSettings, approval: str) -> HostSettings:
    """The relay's host settings with approvals decided by the calls' policy."""
    return dataclasses.replace(settings, auto_approve=approval == "auto")


async def run_call_session(
    registry: ToolRegistry,
    opener: SidebandOpener,
    settings: HostSettings,
    *,
    approval: str,
    context: CallContext,
    observer: SessionObserver | None = None,
    extra_tools: Sequence[Event] = (),
    slots: SessionSlots | None = None,
) -> SessionHost | None:
    """Attach to the call and run its session until the call (or the sideband) ends.

    `extra_tools`: tools the call was set up with besides the host's (a plugin's, a browser's own
    function tools); the host keeps them in every tools update it sends. `slots`: the app's, where
    the session is kept among the live ones (a shutdown or a drain's end ends it with its reason;
    the slot itself is held by the caller). Returns the finished host,
    or None when the sideband could not be opened (logged; the call goes on without our tools).
    """
    try:
        async with attach_upstream(opener) as upstream:
            host = SessionHost(
                registry,
                upstream,
                NoClient(refuse_approvals=approval != "auto"),
                call_host_settings(settings, approval),
                context=context,
                observer=observer,
            )
            if extra_tools:
                for problem in await host.tools.apply(list(extra_tools)):
                    log.warning("call %s: tool not kept: %s", context.call_id, problem)
            log.info("call %s (%s): sideband attached", context.call_id, context.transport)
            with slots.running(host) if slots is not None else nullcontext():
                await host.run()
            log.info("call %s ended: %s", context.call_id, host.end_reason)
            return host
    except (OSError, ChannelClosed, TimeoutError) as exc:
        log.warning("call %s: cannot attach the sideband: %s", context.call_id, _describe(exc))
    except Exception as exc:  # websockets' InvalidStatus (the call is gone, a bad key) and the like
        log.warning("call %s: sideband failed: %s", context.call_id, _describe(exc))
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
