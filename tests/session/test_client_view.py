"""What a client is shown around host calls: hosted-MCP order, one read-back, a hidden view,
session events it can trust, `previous_item_id` it can resolve. Wire-level, against the fake upstream."""

from __future__ import annotations

import json

import anyio
import pytest

from mcp_voice.session.host import HostSettings
from mcp_voice.session.questions import ANSWER_TOOL
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
        # the host's read-back waited for the client's request and went out as it: the client's
        # own sequencer (agents-realtime) sees its request answered by this response
        assert create["event_id"] == "evt_client_rc"
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1
        await s.respond(assistant_item("Four."), response_id="resp_readback")
        # once the read-back is over, a plain response.create is a new request again
        await s.send({"type": "response.create", "event_id": "evt_client_rc2"})
        assert (await s.upstream("response.create"))["event_id"] == "evt_client_rc2"


async def test_the_host_learns_that_a_client_asks_for_each_read_back(registry: ToolRegistry) -> None:
    """Every later read-back also waits for the client's request, so it is never spoken twice."""
    async with open_session(registry) as s:
        await s.upstream("session.update")
        for n, event_id in enumerate(("evt_first", "evt_second")):
            await s.call_tool("voice__add", {"a": n, "b": 2})
            await s.upstream_item()
            await s.received_until("conversation.item.done")
            await s.settle()
            assert len(s.sent("upstream", "response.create")) == n  # held for the client's own
            await s.send({"type": "response.create", "event_id": event_id})
            assert (await s.upstream("response.create"))["event_id"] == event_id
            await s.respond(assistant_item("Done."))
        await s.settle()
        # two calling responses and two read-backs: the client saw each of its requests answered
        assert len(s.sent("client", "response.created")) == 4
        assert s.host.sequencer.client_reads_back is True


async def test_a_client_that_never_asks_hears_the_read_back_and_is_not_waited_for_again(
    registry: ToolRegistry,
) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 1, "b": 2})
        await s.upstream_item()
        create = await s.upstream("response.create")  # after readback_wait_s, the host's own
        assert not create["event_id"].startswith("evt_")
        assert s.host.sequencer.client_reads_back is False
        await s.respond(assistant_item("Three."))
        await s.call_tool("voice__add", {"a": 2, "b": 2})
        await s.upstream_item()
        # no wait now: the read-back is asked as soon as the calling response is over
        await s.upstream("response.create")


async def test_a_request_after_the_clients_own_message_is_a_new_turn(registry: ToolRegistry) -> None:
    """A message typed while the read-back speaks: its plain response.create is answered after it."""
    async with open_session(registry, HostSettings(readback_wait_s=0)) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 2, "b": 2})
        await s.upstream_item()
        await s.upstream("response.create")
        rid = await s.respond(done=False)  # the read-back is speaking
        message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And 3+3?"}]}
        await s.send({"type": "conversation.item.create", "item": message})
        await s.upstream("conversation.item.create")
        await s.send({"type": "response.create", "event_id": "evt_new_turn"})
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1  # one response at a time
        await s.done(rid)
        assert (await s.upstream("response.create"))["event_id"] == "evt_new_turn"


async def test_a_read_back_request_after_the_read_back_gets_an_empty_answer(registry: ToolRegistry) -> None:
    """A client too slow for the wait asks after the read-back was spoken: released, not repeated."""
    async with open_session(registry, HostSettings(readback_wait_s=0)) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__add", {"a": 2, "b": 2})
        await s.upstream_item()
        await s.upstream("response.create")
        await s.respond(assistant_item("Four."))
        await s.received_until("response.done")
        await s.send({"type": "response.create", "event_id": "evt_late"})
        seen = await s.received_until("response.done")
        done = seen[-1]
        while done["response"].get("metadata") is None:  # the read-back's own, still on its way
            seen = await s.received_until("response.done")
            done = seen[-1]
        assert seen[-2]["type"] == "response.created" and done["response"]["output"] == []
        assert done["response"]["metadata"] == {"mcp_voice": "readback_already_given"}
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1  # nothing spoken twice
        # the client's next turn is its own again
        message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]}
        await s.send({"type": "conversation.item.create", "item": message})
        await s.upstream("conversation.item.create")
        await s.send({"type": "response.create", "event_id": "evt_next"})
        assert (await s.upstream("response.create"))["event_id"] == "evt_next"


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


@pytest.mark.parametrize("approve", [False, True])
async def test_hidden_view_asks_for_approval_aloud(registry: ToolRegistry, approve: bool) -> None:
    """The client is shown no host calls, so no approval request: the model asks the user instead."""
    async with open_session(registry, HIDDEN) as s:
        await s.upstream("session.update")
        wipe = await s.call_tool("voice__wipe", {"target": "disk"})
        shown = await s.upstream("session.update")
        assert ANSWER_TOOL in [t["name"] for t in shown["session"]["tools"]]
        note = (await s.upstream_item())["content"][0]["text"]
        assert "May voice__wipe run" in note and "disk" in note
        await s.upstream("response.create")
        await s.respond()  # "May I wipe the disk?"
        question_id = note.split('question_id "', 1)[1].split('"', 1)[0]
        answer = {"question_id": question_id, **({"answer": {}} if approve else {"declined": True})}
        await s.respond(function_call_item(ANSWER_TOOL, json.dumps(answer)))
        with anyio.fail_after(5):
            while True:  # up to the wipe call's own output
                event = await s.upstream()
                if event["type"] != "conversation.item.create":
                    continue
                item = await s.ack(event)
                if item.get("type") == "function_call_output" and item["call_id"] == wipe["call_id"]:
                    break
        if approve:
            assert item["output"] == "wiped disk"  # it ran
        else:
            assert json.loads(item["output"])["status"] == "declined"
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
