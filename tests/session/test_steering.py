"""Work the caller steers by voice: the model lists running calls and cancels one (session/steering.py)."""

from __future__ import annotations

import json

import anyio
import pytest

from mcp_voice.session import HostSettings
from mcp_voice.session.steering import CANCEL_CALL_TOOL, RUNNING_CALLS_TOOL
from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import Event, Session, function_call_item, open_session

pytestmark = pytest.mark.anyio

STEERING = {RUNNING_CALLS_TOOL, CANCEL_CALL_TOOL}
QUICK = HostSettings(readback_wait_s=0)


def tool_names(update: Event) -> set[str]:
    return {tool["name"] for tool in update["session"].get("tools", [])}


async def steer(s: Session, tool: str, arguments: Event) -> Event:
    """The model calls a steering tool; returns the body of the output it got."""
    call = function_call_item(tool, json.dumps(arguments))
    await s.respond(call)
    with anyio.fail_after(5):
        while True:
            item = await s.upstream_item()
            if item["type"] == "function_call_output" and item["call_id"] == call["call_id"]:
                return {"call": call, **json.loads(item["output"])}


async def start_long_call(s: Session, probe: Probe, tool: str, arguments: Event) -> Event:
    """The model starts a long-running call; its placeholder is spoken; the job is running."""
    item = await s.call_tool(tool, arguments)
    placeholder = await s.upstream_item()
    assert placeholder["call_id"] == item["call_id"]
    await s.upstream("response.create")
    await s.respond()  # "I've started that"
    await probe[tool.split("__", 1)[1]].started.wait()
    return item


async def test_the_tools_come_with_long_running_tools(registry: ToolRegistry) -> None:
    async with open_session(registry) as s:  # the voice server has long-running jobs
        assert STEERING <= tool_names(await s.upstream("session.update"))


@pytest.mark.parametrize("off", ["running_calls_tool", "cancel_call_tool", "both"])
async def test_session_keys_turn_them_off(registry: ToolRegistry, off: str) -> None:
    keys = ["running_calls_tool", "cancel_call_tool"] if off == "both" else [off]
    settings = HostSettings(**{key: False for key in keys})
    async with open_session(registry, settings) as s:
        shown = tool_names(await s.upstream("session.update")) & STEERING
        kept = {"running_calls_tool": {CANCEL_CALL_TOOL}, "cancel_call_tool": {RUNNING_CALLS_TOOL}}
        assert shown == kept.get(off, set())
        await s.call_tool(CANCEL_CALL_TOOL if off != "running_calls_tool" else RUNNING_CALLS_TOOL, {})
        await s.settle()
        # a tool that is off is not the host's: nothing answers it upstream
        assert s.sent("upstream", "conversation.item.create") == []


async def test_they_appear_only_once_a_long_running_tool_is_in_the_session(registry: ToolRegistry) -> None:
    async with open_session(registry, HostSettings(register_plugin_tools=False)) as s:
        assert not tool_names(await s.upstream("session.update")) & STEERING
        await s.send(
            {"type": "session.update", "session": {"tools": [{"type": "mcp", "server_label": "extra"}]}}
        )
        update = await s.upstream("session.update")
        assert "extra__hello" in tool_names(update) and not tool_names(update) & STEERING
        long = {"type": "mcp", "server_label": "voice", "allowed_tools": ["crunch"]}
        await s.send({"type": "session.update", "session": {"tools": [long]}})
        assert STEERING <= tool_names(await s.upstream("session.update"))


async def test_listing_shows_the_running_call_with_its_progress(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, QUICK) as s:
        await s.upstream("session.update")
        crunch = await start_long_call(s, probe, "voice__crunch", {"steps": 2})
        await s.settle()
        listed = await steer(s, RUNNING_CALLS_TOOL, {})
        [running] = listed["running"]
        assert running["tool"] == "voice__crunch" and running["call_id"] == crunch["call_id"]
        assert running["progress"] == "step 2" and 0 <= running["elapsed_s"] < 5
        await s.upstream("response.create")  # the model says how it is going
        await s.respond()
        # the client saw the listing as a finished host call of the session's own server
        done = [
            e["item"]
            for e in s.sent("client", "response.output_item.done")
            if e["item"]["id"] == listed["call"]["id"]
        ]
        assert done and done[0]["type"] == "mcp_call" and done[0]["server_label"] == "mcp_voice"
        assert json.loads(done[0]["output"])["running"][0]["call_id"] == crunch["call_id"]


@pytest.mark.parametrize("by", ["tool", "call_id"])
async def test_cancelling_stops_the_call_and_its_result_is_never_spoken(
    registry: ToolRegistry, probe: Probe, by: str
) -> None:
    async with open_session(registry, QUICK) as s:
        await s.upstream("session.update")
        job = await start_long_call(s, probe, "voice__job_announce", {"topic": "tides"})
        target = {"tool": "voice__job_announce"} if by == "tool" else {"call_id": job["call_id"]}
        confirmed = await steer(s, CANCEL_CALL_TOOL, target)
        assert confirmed["status"] == "cancelled" and confirmed["call_id"] == job["call_id"]
        assert "will not come" in confirmed["message"]
        with anyio.fail_after(5):
            await probe["job_announce"].cancelled.wait()  # the MCP cancellation reached the server
        await s.upstream("response.create")  # the model confirms
        await s.respond()
        probe["job_announce"].release.set()
        await anyio.sleep(0.2)
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 2  # the placeholder's, the confirmation's
        assert "report on tides" not in json.dumps(s.timeline)  # never injected, never read back
        notes = [
            e["item"]
            for e in s.sent("upstream", "conversation.item.create")
            if e["item"].get("role") == "system" and job["call_id"] in e["item"]["content"][0]["text"]
        ]
        assert notes == []
        listed = await steer(s, RUNNING_CALLS_TOOL, {})
        assert listed["running"] == []


async def test_cancelling_an_unknown_call_is_a_clear_tool_error(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, QUICK) as s:
        await s.upstream("session.update")
        job = await start_long_call(s, probe, "voice__job_keep", {})
        answer = await steer(s, CANCEL_CALL_TOOL, {"tool": "voice__nothing"})
        message = answer["error"]["message"]
        assert "no running call matches tool 'voice__nothing'" in message
        assert f"voice__job_keep (call_id {job['call_id']})" in message  # what it could have meant
        await s.upstream("response.create")  # the model tells the user
        await s.respond()
        failed = [
            e for e in s.sent("client", "response.mcp_call.failed") if e["item_id"] == answer["call"]["id"]
        ]
        assert failed
        assert not probe["job_keep"].cancelled.is_set()  # the running call goes on
        probe["job_keep"].release.set()
        with anyio.fail_after(5):
            while True:
                item = await s.upstream_item()
                if item.get("role") == "system" and job["call_id"] in item["content"][0]["text"]:
                    break


async def test_a_name_two_calls_share_asks_for_the_call_id(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, QUICK) as s:
        await s.upstream("session.update")
        first = function_call_item("voice__job_cancel", '{"topic": "a"}')
        second = function_call_item("voice__job_cancel", '{"topic": "b"}')
        await s.respond(first, second)
        for _ in (first, second):
            await s.upstream_item()  # the two placeholders
        await s.upstream("response.create")
        await s.respond()
        with anyio.fail_after(5):
            while probe["job_cancel"].calls < 2:
                await s.settle()
        vague = await steer(s, CANCEL_CALL_TOOL, {"tool": "job_cancel"})
        assert "2 calls match tool 'job_cancel'; give the call_id of one" in vague["error"]["message"]
        assert (
            first["call_id"] in vague["error"]["message"] and second["call_id"] in vague["error"]["message"]
        )
        await s.upstream("response.create")
        await s.respond()
        nothing = await steer(s, CANCEL_CALL_TOOL, {})
        assert "give the call_id or the tool name" in nothing["error"]["message"]
        await s.upstream("response.create")
        await s.respond()
        assert not probe["job_cancel"].cancelled.is_set()  # no error cancelled anything
        exact = await steer(s, CANCEL_CALL_TOOL, {"call_id": second["call_id"]})
        assert exact["status"] == "cancelled" and exact["call_id"] == second["call_id"]
        with anyio.fail_after(5):
            await probe["job_cancel"].cancelled.wait()
        await s.upstream("response.create")
        await s.respond()
        [left] = (await steer(s, RUNNING_CALLS_TOOL, {}))["running"]
        assert left["call_id"] == first["call_id"]  # the other one runs on


async def test_hidden_host_calls_steer_the_same_and_show_nothing(
    registry: ToolRegistry, probe: Probe
) -> None:
    async with open_session(registry, HostSettings(readback_wait_s=0, host_calls="hidden")) as s:
        assert STEERING <= tool_names(await s.upstream("session.update"))
        await start_long_call(s, probe, "voice__job_keep", {})
        confirmed = await steer(s, CANCEL_CALL_TOOL, {"tool": "voice__job_keep"})
        assert confirmed["status"] == "cancelled"
        with anyio.fail_after(5):
            await probe["job_keep"].cancelled.wait()
        await s.upstream("response.create")  # the model says it stopped
        await s.respond()
        await s.settle()
        assert "mcp_call" not in json.dumps(s.sent("client"))
