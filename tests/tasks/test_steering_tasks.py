"""Steering an MCP task by voice: the tools come when a call becomes a task; cancel sends tasks/cancel.

No config marks `slow_count` long-running, so the steering tools are not there at the start: the
session learns of long-running work from the server's task answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from mcp_voice.session import HostSettings
from mcp_voice.session.steering import CANCEL_CALL_TOOL, RUNNING_CALLS_TOOL
from mcp_voice.tools import ServerSpec, ToolRegistry
from tests.session.wire import Event, Session, function_call_item, open_session
from tests.tasks.conftest import task_stdio
from tests.tools.conftest import wait_for_file

pytestmark = pytest.mark.anyio

STEERING = {RUNNING_CALLS_TOOL, CANCEL_CALL_TOOL}


def tool_names(update: Event) -> set[str]:
    return {tool["name"] for tool in update["session"].get("tools", [])}


async def next_of(s: Session, kind: str) -> Event:
    """The next upstream event of `kind`; item creates on the way are acknowledged."""
    with anyio.fail_after(10):
        while True:
            event = await s.upstream()
            if event["type"] == "conversation.item.create":
                await s.ack(event)
            if event["type"] == kind:
                return event


async def steer(s: Session, tool: str, arguments: Event) -> Event:
    call = function_call_item(tool, json.dumps(arguments))
    await s.respond(call)
    with anyio.fail_after(10):
        while True:
            item = await s.upstream_item()
            if item["type"] == "function_call_output" and item["call_id"] == call["call_id"]:
                return dict(json.loads(item["output"]))


async def test_a_task_call_brings_the_tools_and_cancel_ends_the_task(tmp_path: Path) -> None:
    async with ToolRegistry([ServerSpec("tasks", task_stdio(tmp_path))]) as registry:
        async with open_session(registry, HostSettings(readback_wait_s=0)) as s:
            assert not tool_names(await s.upstream("session.update")) & STEERING
            item = await s.call_tool("tasks__slow_count", {"steps": 60, "delay_s": 0.1})
            assert STEERING <= tool_names(await next_of(s, "session.update"))  # it became a task
            await next_of(s, "response.create")  # the placeholder's
            await s.respond()
            await wait_for_file(tmp_path / "started-60", 10)
            await anyio.sleep(0.6)  # a few steps, and a poll (200 ms) that saw one
            [running] = (await steer(s, RUNNING_CALLS_TOOL, {}))["running"]
            assert running["tool"] == "tasks__slow_count" and running["call_id"] == item["call_id"]
            assert running["progress"] and "of 60" in running["progress"]
            await next_of(s, "response.create")
            await s.respond()
            confirmed = await steer(s, CANCEL_CALL_TOOL, {"tool": "slow_count"})
            assert confirmed["status"] == "cancelled" and confirmed["call_id"] == item["call_id"]
            await wait_for_file(tmp_path / "cancelled-60", 10)  # tasks/cancel reached the server
            await next_of(s, "response.create")  # the confirmation
            await s.respond()
            await anyio.sleep(0.5)
            await s.settle()
            results = [
                e
                for e in s.sent("upstream", "conversation.item.create")
                if e["item"].get("role") == "system" and "has finished" in e["item"]["content"][0]["text"]
            ]
            assert results == []  # the cancelled task is never spoken
            assert len(s.sent("upstream", "response.create")) == 3  # placeholder, listing, confirmation
