"""Sync host calls: dispatch, output, one response, what the client sees."""

from __future__ import annotations

import json

import pytest

from mcp_voice.tools.registry import ToolRegistry
from tests.session.wire import function_call_item, open_session

pytestmark = pytest.mark.anyio


async def test_tools_registered_at_start(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        update = await s.upstream("session.update")
        assert update["session"]["type"] == "realtime"
        names = {tool["name"] for tool in update["session"]["tools"]}
        assert {"voice__add", "voice__weather", "extra__hello"} <= names


async def test_sync_call_output_then_one_response(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__add", {"a": 2, "b": 3})
        output = await s.upstream_item()
        assert output["type"] == "function_call_output"
        assert output["call_id"] == item["call_id"]
        assert output["output"] == "5"
        create = await s.upstream("response.create")
        assert create["event_id"]
        await s.respond()
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1


async def test_client_sees_mcp_call_never_function_call(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__add", {"a": 1, "b": 1})
        await s.upstream_item()  # the output, acknowledged upstream (conversation.item.added/done)
        await s.upstream("response.create")
        seen = await s.received_until("response.done")
        kinds = [e["type"] for e in seen]
        # OpenAI's hosted-MCP order: the item is done (with its output) only after the call ran,
        # and the response that called it ends after that.
        assert kinds == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.in_progress",
            "response.mcp_call.completed",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        delta = seen[3]
        assert delta["obfuscation"] == ""  # the JS SDK's schema requires the field
        for event in seen:
            assert "function_call" not in json.dumps(event), event
            if "item" in event:
                assert event["item"]["id"] == item["id"]
                assert event["item"]["type"] == "mcp_call"
                assert event["item"]["server_label"] == "voice"
                assert event["item"]["name"] == "add"
        assert seen[7]["item"]["output"] == "2" and seen[7]["response_id"] == seen[0]["response"]["id"]
        final = seen[8]["item"]
        assert final["output"] == "2" and final["error"] is None
        done = seen[-1]
        assert [(o["type"], o["output"]) for o in done["response"]["output"]] == [("mcp_call", "2")]
        await s.settle()
        # the host's own function_call_output never reaches the client, nor a second item.done
        assert not [e for e in s.sent("client") if "function_call_output" in json.dumps(e)]
        assert len(s.sent("client", "conversation.item.done")) == 1


async def test_only_completed_function_calls_run(registry: ToolRegistry, probe) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        rid = await s.respond(function_call_item("voice__weather", '{"city": "Oslo"}', status="incomplete"))
        await s.settle()
        assert probe["weather"].calls == 0
        assert s.sent("upstream", "conversation.item.create") == []
        assert rid


async def test_failing_tool_answers_with_error_and_failed_event(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__broken", {"reason": "disk on fire"})
        output = await s.upstream_item()
        assert output["call_id"] == item["call_id"]
        assert "disk on fire" in json.loads(output["output"])["error"]["message"]
        await s.upstream("response.create")
        await s.received_until("response.mcp_call.failed")
        await s.received("response.output_item.done")
        done = await s.received("conversation.item.done")
        assert done["item"]["error"]["type"] == "tool_execution_error"
        # the client is shown the message itself, not the JSON the model reads
        assert done["item"]["error"]["message"].endswith("disk on fire")
        assert not done["item"]["error"]["message"].startswith("{")


async def test_client_function_tools_pass_through(registry: ToolRegistry) -> None:
    mine = {"type": "function", "name": "get_time", "description": "Time.", "parameters": {"type": "object"}}
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.send(
            {"type": "session.update", "event_id": "evt_c1", "session": {"type": "realtime", "tools": [mine]}}
        )
        update = await s.upstream("session.update")
        assert update["event_id"] == "evt_c1"
        names = [t["name"] for t in update["session"]["tools"]]
        assert "get_time" in names and "voice__add" in names
        item = await s.call_tool("get_time")
        shown = await s.received_until("response.output_item.done")
        assert shown[-1]["item"] == item  # untouched
        output = {"type": "function_call_output", "call_id": item["call_id"], "output": "noon"}
        await s.send({"type": "conversation.item.create", "event_id": "evt_c2", "item": output})
        forwarded = await s.upstream("conversation.item.create")
        assert forwarded["item"] == output and forwarded["event_id"] == "evt_c2"
        await s.settle()
        assert s.sent("upstream", "response.create") == []


async def test_image_reaches_model_as_user_message(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__snapshot")
        output = await s.upstream_item()
        assert output["type"] == "function_call_output" and output["call_id"] == item["call_id"]
        image = await s.upstream_item()
        assert image["type"] == "message" and image["role"] == "user"
        assert image["content"][0]["type"] == "input_image"
        assert image["content"][0]["image_url"].startswith("data:image/png;base64,")
        await s.upstream("response.create")
