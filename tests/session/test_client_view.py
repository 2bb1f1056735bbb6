"""What a client is shown around host calls: hosted-MCP order, one read-back, a hidden view,
session events it can trust, `previous_item_id` it can resolve. Wire-level, against the fake upstream."""

from __future__ import annotations

import json

import anyio
import pytest

from mcp_voice.session.host import HostSettings
from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import assistant_item, ev, function_call_item, open_session, response_obj

pytestmark = pytest.mark.anyio

HIDDEN = HostSettings(host_calls="hidden")


async def test_the_calling_response_ends_after_the_call_and_other_output_flows(
    registry: ToolRegistry, probe: Probe
) -> None:
    """A spoken message beside the call streams at once; the response ends only when the call has."""
    async with open_session(registry) as s:
        await s.upstream("session.update")
        call = function_call_item("voice__weather", '{"city": "Oslo"}')
        words = assistant_item("Let me check.")
        rid = await s.respond(words, call)
        with anyio.fail_after(10):
            await probe["weather"].started.wait()
        seen = await s.received_until("response.mcp_call.in_progress")
        kinds = [e["type"] for e in seen]
        assert "response.output_item.done" in kinds  # the message's, at once
        assert all(e["item"]["type"] == "message" for e in seen if e["type"].endswith("item.done"))
        # the user speaks meanwhile: the client hears it at once (no response owns it) ...
        await s.play(ev("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_u"))
        await s.received("input_audio_buffer.speech_started")
        # ... while a new response (server VAD's) waits behind the held response.done
        await s.play(ev("response.created", response=response_obj("resp_next")))
        await s.settle()
        assert "response.done" not in [e["type"] for e in s.sent("client")]
        assert len(s.sent("client", "response.created")) == 1
        probe["weather"].release.set()
        await s.upstream_item()
        rest = await s.received_until("response.created")
        assert [e["type"] for e in rest][-5:] == [
            "response.mcp_call.completed",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
            "response.created",
        ]
        done = rest[-2]["response"]
        assert done["id"] == rid
        assert [(o["type"], o.get("output")) for o in done["output"]] == [
            ("message", None),
            ("mcp_call", "sunny in Oslo"),
        ]


async def test_a_clients_response_create_joins_the_hosts_read_back(registry: ToolRegistry) -> None:
    """@openai/agents-realtime asks for a response on every finished mcp_call: one read-back, not two."""
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 2, "b": 2})
        await s.upstream_item()
        await s.received_until("conversation.item.done")
        await s.send({"type": "response.create", "event_id": "evt_client_rc"})
        create = await s.upstream("response.create")
        assert create["event_id"] != "evt_client_rc"  # the host's own, sent before the client asked
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1
        await s.respond(assistant_item("Four."), response_id="resp_readback")
        # once the read-back is over, a plain response.create is a new request again
        await s.send({"type": "response.create", "event_id": "evt_client_rc2"})
        assert (await s.upstream("response.create"))["event_id"] == "evt_client_rc2"


async def test_a_response_create_with_parameters_never_joins(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 2, "b": 2})
        await s.upstream_item()
        await s.upstream("response.create")
        await s.received_until("conversation.item.done")
        asked = {"type": "response.create", "event_id": "evt_own", "response": {"instructions": "Be brief."}}
        await s.send(asked)
        await s.respond(assistant_item("Four."))
        assert (await s.upstream("response.create"))["event_id"] == "evt_own"


async def test_hidden_view_shows_no_host_call_at_all(registry: ToolRegistry) -> None:
    async with open_session(registry, HIDDEN) as s:
        await s.upstream("session.update")
        call = await s.call_tool("voice__add", {"a": 1, "b": 2})
        await s.upstream_item()
        await s.upstream("response.create")
        await s.respond(assistant_item("Three."))
        await s.settle()
        shown = s.sent("client")
        text = json.dumps(shown)
        assert call["id"] not in text and "mcp_call" not in text and "function_call" not in text
        dones = [e for e in shown if e["type"] == "response.done"]
        assert dones[0]["response"]["output"] == []  # the calling response, emptied
        assert "Three." in text


async def test_hidden_view_declines_calls_that_need_approval(registry: ToolRegistry) -> None:
    async with open_session(registry, HIDDEN) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__wipe", {"target": "disk"})
        output = await s.upstream_item()
        assert json.loads(output["output"])["status"] == "declined"
        await s.settle()
        assert "mcp_approval_request" not in json.dumps(s.sent("client"))


async def test_session_updated_only_answers_the_clients_own_update(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        host_update = await s.upstream("session.update")
        await s.play(
            ev("session.updated", session={"type": "realtime", "tools": host_update["session"]["tools"]})
        )
        mine = {
            "type": "function",
            "name": "get_time",
            "description": "Time.",
            "parameters": {"type": "object"},
        }
        await s.send(
            {
                "type": "session.update",
                "event_id": "evt_u1",
                "session": {"type": "realtime", "tools": [mine], "instructions": "Hi."},
            }
        )
        forwarded = await s.upstream("session.update")
        await s.play(ev("session.updated", session={"type": "realtime", **forwarded["session"]}))
        updated = await s.received("session.updated")
        assert updated["session"]["tools"] == [mine]  # its own tools, not the host's
        assert updated["session"]["instructions"] == "Hi."
        await s.settle()
        assert len(s.sent("client", "session.updated")) == 1


async def test_a_refused_client_update_gets_its_error_and_no_session_updated(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        host_update = await s.upstream("session.update")
        await s.send(
            {"type": "session.update", "event_id": "evt_bad", "session": {"type": "realtime", "voice": "x"}}
        )
        await s.upstream("session.update")
        await s.play(
            ev("error", error={"type": "invalid_request_error", "message": "no", "event_id": "evt_bad"})
        )
        assert (await s.received("error"))["error"]["event_id"] == "evt_bad"
        await s.play(
            ev("session.updated", session={"type": "realtime", "tools": host_update["session"]["tools"]})
        )
        await s.settle()
        assert s.sent("client", "session.updated") == []


async def test_previous_item_id_names_only_items_the_client_saw(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        call = await s.call_tool("voice__add", {"a": 1, "b": 1})
        create = await s.upstream("conversation.item.create")
        output = {**create["item"], "object": "realtime.item", "status": "completed"}
        await s.play(ev("conversation.item.added", previous_item_id=call["id"], item=output))
        await s.upstream("response.create")
        reply = assistant_item("Two.")
        rid = "resp_after"
        await s.play(ev("response.created", response=response_obj(rid)))
        await s.play(
            ev(
                "conversation.item.added",
                previous_item_id=output["id"],
                item={**reply, "status": "in_progress"},
            )
        )
        await s.play(ev("conversation.item.done", previous_item_id=output["id"], item=reply))
        await s.settle()
        placed = [
            e
            for e in s.sent("client")
            if e["type"].startswith("conversation.item.") and e["item"]["id"] == reply["id"]
        ]
        assert [e["previous_item_id"] for e in placed] == [
            call["id"],
            call["id"],
        ]  # the mcp_call, not the output


async def test_hosted_events_are_valid_for_the_js_sdk(registry: ToolRegistry) -> None:
    """@openai/agents-realtime's zod schema wants `obfuscation` on mcp_call_arguments.delta."""
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 1, "b": 1})
        delta = (await s.received_until("response.mcp_call_arguments.delta"))[-1]
        assert isinstance(delta["obfuscation"], str)
        for key in ("event_id", "response_id", "item_id", "output_index", "delta"):
            assert key in delta


async def test_a_retrieve_of_a_host_call_is_answered_by_the_host(
    registry: ToolRegistry, probe: Probe
) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        call = await s.call_tool("voice__weather", {"city": "Rome"})
        seen = await s.received_until("response.mcp_call.in_progress")
        assert "conversation.item.retrieved" not in [e["type"] for e in seen]  # never unasked
        await s.send({"type": "conversation.item.retrieve", "event_id": "evt_r", "item_id": call["id"]})
        again = await s.received("conversation.item.retrieved")
        assert again["item"]["type"] == "mcp_call" and again["item"]["output"] is None
        probe["weather"].release.set()
        await s.upstream_item()
        await s.received_until("response.done")
        await s.send({"type": "conversation.item.retrieve", "event_id": "evt_r2", "item_id": call["id"]})
        await s.settle()
        # never forwarded upstream (it would come back as a function_call), never after the item is done
        assert [e for e in s.sent("upstream") if e["type"] == "conversation.item.retrieve"] == []
        after = s.sent("client")[
            s.sent("client").index(next(e for e in s.sent("client") if e["type"] == "response.done")) :
        ]
        assert "conversation.item.retrieved" not in [e["type"] for e in after]
        assert len(s.sent("client", "conversation.item.retrieved")) == 1  # the one asked for
