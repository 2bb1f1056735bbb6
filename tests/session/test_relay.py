"""Relaying: bad input answered with errors, pass-through, the hot path, closing."""

from __future__ import annotations

import anyio
import pytest

from mcp_voice.channels import ChannelClosed
from mcp_voice.tools.registry import ToolRegistry
from tests.session.wire import ev, open_session

pytestmark = pytest.mark.anyio


async def test_bad_input_answered_and_connection_stays(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.send("{not json")
        assert (await s.received("error"))["error"]["code"] == "invalid_json"
        await s.send({"type": "response.teleport", "event_id": "evt_x"})
        error = await s.received("error")
        assert error["error"]["event_id"] == "evt_x" and error["error"]["param"] == "type"
        await s.send({"type": "conversation.item.create", "event_id": "evt_y"})
        assert (await s.received("error"))["error"]["code"] == "missing_required_parameter"
        await s.send({"type": "session.update", "event_id": "evt_t", "session": {"tools": "all"}})
        error = await s.received("error")
        assert error["error"]["event_id"] == "evt_t" and error["error"]["param"] == "session.tools"
        await s.send({"type": "input_audio_buffer.commit", "event_id": "evt_ok"})
        assert (await s.upstream("input_audio_buffer.commit"))["event_id"] == "evt_ok"
        await s.settle()
        assert len(s.sent("upstream")) == 2  # the start update and the commit: nothing bad forwarded


async def test_audio_text_goes_upstream_verbatim_unless_its_type_is_ambiguous(registry: ToolRegistry) -> None:
    """Raw client text is forwarded as is, but never text another parser could read differently."""
    async with open_session(registry) as s:
        await s.upstream("session.update")
        plain = '{"type":"input_audio_buffer.append","audio":"AAAA"}'
        await s.send(plain)
        with anyio.fail_after(5):
            assert await s.server.receive() == plain
        # a second "type" key: we read the last one; an upstream reading the first would see a
        # response.create the sequencer never handled, so what we parsed is sent instead
        doubled = '{"type":"response.create","type":"input_audio_buffer.append","audio":"AAAA"}'
        await s.send(doubled)
        assert await s.upstream() == {"type": "input_audio_buffer.append", "audio": "AAAA"}
        escaped = '{"\\u0074ype":"response.create","type":"input_audio_buffer.append","audio":"AAAA"}'
        await s.send(escaped)
        assert await s.upstream() == {"type": "input_audio_buffer.append", "audio": "AAAA"}


async def test_hot_path_forwards_the_same_dicts(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        append = {"type": "input_audio_buffer.append", "audio": "AAAA"}
        await s.send(append)
        assert await s.upstream() is append
        delta = ev(
            "response.output_audio.delta",
            response_id="r",
            item_id="i",
            output_index=0,
            content_index=0,
            delta="AAAA",
        )
        await s.play(delta)
        assert await s.received() is delta


async def test_upstream_errors_and_other_events_pass_through(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.send({"type": "response.cancel", "event_id": "evt_c"})
        assert (await s.upstream("response.cancel"))["event_id"] == "evt_c"
        error = ev(
            "error",
            error={
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": "none",
                "event_id": "evt_c",
                "param": None,
            },
        )
        await s.play(error)
        assert await s.received("error") is error


async def test_upstream_closing_ends_the_session(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.server.aclose()
        with anyio.fail_after(5):
            await s.host.closed.wait()
            with pytest.raises(ChannelClosed):
                await s.client.receive()
