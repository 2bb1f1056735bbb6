"""The per-call context: tools see it in `_meta`, observers hear start and end, DTMF reaches the model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from mcp_voice.session import HostSettings
from mcp_voice.session.context import META_CALL, CallContext
from mcp_voice.session.dtmf import DtmfAction
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from tests.session.wire import ev, open_session

pytestmark = pytest.mark.anyio


def build_phone_server() -> MCPServer:
    server = MCPServer("phone")

    @server.tool(description="Who is calling?")
    async def whoami(ctx: Context) -> str:
        meta = ctx.request_context.meta or {}
        return json.dumps(dict(meta).get(META_CALL))

    return server


@pytest.fixture
async def phone_registry() -> AsyncIterator[ToolRegistry]:
    async with ToolRegistry([ServerSpec(name="phone", target=build_phone_server())]) as registry:
        yield registry


class Observer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def session_started(self, context: CallContext) -> None:
        self.seen.append(("started", context))

    def session_ended(self, context: CallContext, reason: str) -> None:
        self.seen.append(("ended", reason))


async def test_tool_call_carries_the_call_context(phone_registry: ToolRegistry) -> None:
    context = CallContext(transport="twilio", call_id="CA123", caller="+15550100", parameters={"lang": "de"})
    async with open_session(phone_registry, context=context) as s:
        await s.upstream("session.update")
        await s.call_tool("phone__whoami")
        output = await s.upstream_item()
        seen = json.loads(output["output"])
        assert seen == {
            "transport": "twilio",
            "session_id": context.session_id,
            "call_id": "CA123",
            "caller": "+15550100",
            "parameters": {"lang": "de"},
        }


async def test_observer_hears_start_and_end(phone_registry: ToolRegistry) -> None:
    observer = Observer()
    context = CallContext(transport="sip", call_id="rtc_1")
    async with open_session(phone_registry, context=context, observer=observer) as s:
        await s.upstream("session.update")
        assert observer.seen == [("started", context)]
    assert [kind for kind, _ in observer.seen] == ["started", "ended"]


async def test_dtmf_event_becomes_a_user_text_and_a_response(phone_registry: ToolRegistry) -> None:
    async with open_session(phone_registry) as s:
        await s.upstream("session.update")
        await s.play(ev("input_audio_buffer.dtmf_event_received", event="5", received_at=1764600000))
        item = await s.upstream_item()
        assert item["role"] == "user"
        assert item["content"] == [{"type": "input_text", "text": "The caller pressed 5."}]
        await s.upstream("response.create")
        # the client (if any) still sees the GA event itself
        assert (await s.received("input_audio_buffer.dtmf_event_received"))["event"] == "5"


async def test_dtmf_message_mode_adds_text_without_a_response(phone_registry: ToolRegistry) -> None:
    settings = HostSettings(dtmf=DtmfAction(mode="message", text="Key {digit} pressed."))
    async with open_session(phone_registry, settings) as s:
        await s.upstream("session.update")
        await s.play(ev("input_audio_buffer.dtmf_event_received", event="#", received_at=1))
        item = await s.upstream_item()
        assert item["content"][0]["text"] == "Key # pressed."
        await s.settle()
        assert s.sent("upstream", "response.create") == []


async def test_dtmf_ignore_and_junk_digits(phone_registry: ToolRegistry) -> None:
    async with open_session(phone_registry, HostSettings(dtmf=DtmfAction(mode="ignore"))) as s:
        await s.upstream("session.update")
        await s.play(ev("input_audio_buffer.dtmf_event_received", event="5", received_at=1))
        await s.received("input_audio_buffer.dtmf_event_received")
        await s.settle()
        assert s.sent("upstream", "conversation.item.create") == []
    async with open_session(phone_registry) as s:
        await s.upstream("session.update")
        await s.play(ev("input_audio_buffer.dtmf_event_received", event="<x>", received_at=1))
        await s.received("input_audio_buffer.dtmf_event_received")
        await s.settle()
        assert s.sent("upstream", "conversation.item.create") == []
