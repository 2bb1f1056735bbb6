"""Approval: destructive tools wait for the client's mcp_approval_response."""

from __future__ import annotations

import json

import pytest

from mcp_voice.session import HostSettings
from mcp_voice.tools.registry import ToolRegistry
from tests.session.wire import Session, open_session

pytestmark = pytest.mark.anyio


async def ask(s: Session) -> tuple[dict, dict]:
    await s.upstream("session.update")
    item = await s.call_tool("voice__wipe", {"target": "disk"})
    added = (await s.received_until("conversation.item.added"))[-1]
    while added["item"]["type"] != "mcp_approval_request":
        added = (await s.received_until("conversation.item.added"))[-1]
    return item, added["item"]


def answer(request: dict, approve: bool) -> dict:
    item = {"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": approve}
    return {"type": "conversation.item.create", "event_id": "evt_ans", "item": item}


async def test_approve_runs_the_call(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        item, request = await ask(s)
        assert request["server_label"] == "voice" and request["name"] == "wipe"
        assert json.loads(request["arguments"]) == {"target": "disk"}
        await s.settle()
        assert s.sent("upstream", "conversation.item.create") == []
        await s.send(answer(request, True))
        output = await s.upstream_item()
        assert output["call_id"] == item["call_id"] and "wiped disk" in output["output"]
        await s.upstream("response.create")
        done = (await s.received_until("response.mcp_call.completed"))[-1]
        assert done["item_id"] == item["id"]
        assert (await s.received("response.output_item.done"))["item"]["output"] == "wiped disk"
        final = await s.received("conversation.item.done")
        assert final["item"]["approval_request_id"] == request["id"]
        # the answer was the host's business: never forwarded upstream
        assert not [e for e in s.sent("upstream") if "mcp_approval_response" in json.dumps(e)]


async def test_decline_tells_the_model(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        item, request = await ask(s)
        await s.send(answer(request, False))
        output = await s.upstream_item()
        assert output["call_id"] == item["call_id"]
        assert json.loads(output["output"])["status"] == "declined"
        await s.upstream("response.create")
        await s.received_until("response.mcp_call.failed")


async def test_auto_approve_skips_the_question(registry: ToolRegistry) -> None:
    async with open_session(registry, HostSettings(auto_approve=True)) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__wipe", {"target": "disk"})
        output = await s.upstream_item()
        assert "wiped disk" in output["output"]
        assert not [e for e in s.sent("client") if "mcp_approval_request" in json.dumps(e)]


async def test_unknown_approval_goes_upstream(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.send(answer({"id": "mcpr_upstreams"}, True))
        forwarded = await s.upstream("conversation.item.create")
        assert forwarded["item"]["approval_request_id"] == "mcpr_upstreams"


async def test_bad_approve_value_is_an_error(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:
        _, request = await ask(s)
        bad = answer(request, True)
        bad["item"]["approve"] = "yes"
        await s.send(bad)
        error = (await s.received_until("error"))[-1]
        assert error["error"]["param"] == "item.approve" and error["error"]["event_id"] == "evt_ans"
        # the question is still open: a proper answer afterwards is taken
        await s.send(answer(request, False))
        output = await s.upstream_item()
        assert "declined" in output["output"]
