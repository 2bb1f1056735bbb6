"""The response sequencer at the wire: one active response, queueing, coalescing, retries."""

from __future__ import annotations

import pytest

from mcp_voice.protocol.events import new_response_id
from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import ev, function_call_item, open_session, response_obj

pytestmark = pytest.mark.anyio
ALREADY = "conversation_already_has_active_response"


async def test_client_response_create_waits_for_active_response(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        rid = await s.respond(done=False)
        await s.send({"type": "response.create", "event_id": "evt_rc"})
        await s.settle()
        assert s.sent("upstream", "response.create") == []
        await s.done(rid)
        create = await s.upstream("response.create")
        assert create["event_id"] == "evt_rc"


async def test_out_of_band_response_bypasses_the_queue(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.respond(done=False)
        oob = {"type": "response.create", "event_id": "evt_oob", "response": {"conversation": "none"}}
        await s.send(oob)
        assert (await s.upstream("response.create"))["event_id"] == "evt_oob"


async def test_results_finishing_together_get_one_response(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        first = function_call_item("voice__weather", '{"city": "Oslo"}')
        second = function_call_item("voice__weather", '{"city": "Rome"}')
        rid = await s.respond(first, second, done=False)
        await probe["weather"].started.wait()
        probe["weather"].release.set()
        outputs = {(await s.upstream_item())["call_id"], (await s.upstream_item())["call_id"]}
        assert outputs == {first["call_id"], second["call_id"]}
        await s.done(rid, first, second)
        await s.upstream("response.create")
        await s.respond()
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1


async def test_response_after_acknowledged_items_satisfies_host_request(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = function_call_item("voice__add", '{"a": 1, "b": 2}')
        rid = await s.respond(item, done=False)
        await s.upstream_item()  # output acknowledged while the response is still active
        await s.play(ev("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_u"))
        await s.done(rid, item)
        await s.play(ev("input_audio_buffer.committed", item_id="item_u", previous_item_id=None))
        # server VAD answers the user: that response already sees the output
        await s.respond()
        await s.settle()
        assert s.sent("upstream", "response.create") == []


async def test_host_waits_while_the_user_speaks(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = function_call_item("voice__add", '{"a": 1, "b": 2}')
        rid = await s.respond(item, done=False)
        # The call has finished (its output is sent) before the user speaks: a call still running
        # at speech_started would follow its barge-in policy (`keep`: no response of its own).
        await s.upstream_item(ack=False)
        await s.play(ev("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_u"))
        await s.done(rid, item)
        await s.settle()
        assert s.sent("upstream", "response.create") == []
        await s.play(ev("input_audio_buffer.cleared"))
        await s.upstream("response.create")


async def test_race_with_server_vad_retries_host_request_by_event_id(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 1, "b": 2})
        create_item = await s.upstream("conversation.item.create")
        create = await s.upstream("response.create")
        # server VAD started a response before our request arrived, and our items are not in yet
        vad = new_response_id()
        await s.play(ev("response.created", response=response_obj(vad)))
        await s.play(
            ev(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": ALREADY,
                    "message": "busy",
                    "event_id": create["event_id"],
                    "param": None,
                },
            )
        )
        await s.ack(create_item)
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1
        await s.done(vad)
        retry = await s.upstream("response.create")
        assert retry["event_id"] != create["event_id"]
        await s.respond()
        await s.settle()
        assert not [e for e in s.sent("client", "error")], "the host's own error must stay hidden"


async def test_race_satisfied_when_items_were_in_before_vad_response(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 1, "b": 2})
        await s.upstream_item()
        create = await s.upstream("response.create")
        vad = new_response_id()
        await s.play(ev("response.created", response=response_obj(vad)))
        await s.play(
            ev(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": ALREADY,
                    "message": "busy",
                    "event_id": create["event_id"],
                    "param": None,
                },
            )
        )
        await s.done(vad)
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1  # the VAD response covered it
        assert not s.sent("client", "error")


async def test_client_request_retried_and_error_hidden(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.send({"type": "response.create", "event_id": "evt_mine"})
        assert (await s.upstream("response.create"))["event_id"] == "evt_mine"
        vad = new_response_id()
        await s.play(ev("response.created", response=response_obj(vad)))
        await s.play(
            ev(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": ALREADY,
                    "message": "busy",
                    "event_id": "evt_mine",
                    "param": None,
                },
            )
        )
        await s.done(vad)
        assert (await s.upstream("response.create"))["event_id"] == "evt_mine"
        await s.settle()
        assert not s.sent("client", "error")


async def test_other_error_on_client_request_is_shown_and_unblocks(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.send({"type": "response.create", "event_id": "evt_bad"})
        await s.upstream("response.create")
        await s.send({"type": "response.create", "event_id": "evt_next"})
        await s.play(
            ev(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": "invalid_value",
                    "message": "bad voice",
                    "event_id": "evt_bad",
                    "param": "response.voice",
                },
            )
        )
        error = await s.received("error")
        assert error["error"]["event_id"] == "evt_bad"
        assert (await s.upstream("response.create"))["event_id"] == "evt_next"
