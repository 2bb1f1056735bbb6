"""Long-running calls: placeholder at once, result injected exactly once, deferred mode, progress."""

from __future__ import annotations

import json

import anyio
import pytest

from mcp_voice.session import HostSettings
from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import Session, function_call_item, open_session

pytestmark = pytest.mark.anyio


def injected_results(s: Session, call_id: str) -> list[dict]:
    """System messages that deliver `call_id`'s result (not progress notes)."""
    return [
        e["item"]
        for e in s.sent("upstream", "conversation.item.create")
        if e["item"].get("role") == "system"
        and call_id in e["item"]["content"][0]["text"]
        and "Progress" not in e["item"]["content"][0]["text"]
    ]


async def test_placeholder_at_once_then_result_as_system_message(
    registry: ToolRegistry, probe: Probe
) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        with anyio.fail_after(0.2):
            item = await s.call_tool("voice__job_announce", {"topic": "tides"})
            placeholder = await s.upstream_item()
        # the first read-back waits readback_wait_s for the client's own request; this one never asks
        await s.upstream("response.create")
        assert placeholder["type"] == "function_call_output" and placeholder["call_id"] == item["call_id"]
        body = json.loads(placeholder["output"])
        assert body["status"] == "running" and body["job_id"] and body["tool"] == "voice__job_announce"
        # the wording a real model needs: keep talking, invent nothing, the result comes later
        assert "result will follow" in body["message"] and "keep the conversation going" in body["message"]
        assert "Do not guess, invent" in body["message"] and body["job_id"] in body["message"]
        rid = await s.respond(done=False)  # the model says "working on it"
        probe["job_announce"].release.set()
        note = await s.upstream_item()
        text = note["content"][0]["text"]
        assert note["role"] == "system" and note["content"][0]["type"] == "input_text"
        assert "voice__job_announce" in text and item["call_id"] in text and "report on tides" in text
        assert "cover them all in one reply" in text and "Do not repeat" in text
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1  # still talking: wait
        await s.done(rid)
        await s.upstream("response.create")
        await s.respond()
        await s.settle()
        assert len(injected_results(s, item["call_id"])) == 1
        completed = [e for e in s.sent("client") if e["type"] == "response.mcp_call.completed"]
        assert [e["item_id"] for e in completed] == [item["id"]]


async def test_long_running_results_finishing_together_are_spoken_once(
    registry: ToolRegistry, probe: Probe
) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        first = function_call_item("voice__job_announce", '{"topic": "tides"}')
        second = function_call_item("voice__job_announce", '{"topic": "winds"}')
        await s.respond(first, second)
        placeholders = [await s.upstream_item(), await s.upstream_item()]
        assert {p["call_id"] for p in placeholders} == {first["call_id"], second["call_id"]}
        await s.upstream("response.create")  # one response for both placeholders
        rid = await s.respond(done=False)
        with anyio.fail_after(5):
            while probe["job_announce"].calls < 2:
                await s.settle()
        probe["job_announce"].release.set()
        notes = [await s.upstream_item(), await s.upstream_item()]
        texts = sorted(n["content"][0]["text"] for n in notes)
        assert first["call_id"] in " ".join(texts) and second["call_id"] in " ".join(texts)
        await s.done(rid)
        await s.upstream("response.create")
        await s.respond()
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 2  # placeholders' + both results'
        assert len(injected_results(s, first["call_id"])) == 1
        assert len(injected_results(s, second["call_id"])) == 1


async def test_deferred_mode_holds_the_real_output(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, HostSettings(async_mode="deferred")) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__job_keep", {"topic": "x"})
        await probe["job_keep"].started.wait()
        await s.settle()
        assert s.sent("upstream", "conversation.item.create") == []
        probe["job_keep"].release.set()
        output = await s.upstream_item()
        assert output["type"] == "function_call_output" and output["call_id"] == item["call_id"]
        assert output["output"] == "report on x (keep)"
        await s.upstream("response.create")


async def test_progress_notes_are_rate_limited_and_silent(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, HostSettings(progress_interval_s=0, readback_wait_s=0)) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__crunch", {"steps": 2})
        await probe["crunch"].started.wait()
        await s.settle()
        items = [e["item"] for e in s.sent("upstream", "conversation.item.create")]
        notes = [i for i in items if i.get("role") == "system"]
        assert [i["type"] for i in items] == ["function_call_output", "message", "message"]
        assert all(
            "Progress" in n["content"][0]["text"] and item["call_id"] in n["content"][0]["text"]
            for n in notes
        )
        assert "2/2" in notes[1]["content"][0]["text"]
        assert len(s.sent("upstream", "response.create")) == 1  # the placeholder's; notes are silent
        probe["crunch"].release.set()
        with anyio.fail_after(5):
            while len(injected_results(s, item["call_id"])) < 1:
                await s.upstream()


async def test_progress_notes_respect_the_interval(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, HostSettings(progress_interval_s=60)) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__crunch", {"steps": 5})
        await probe["crunch"].started.wait()
        await s.settle()
        items = [e["item"] for e in s.sent("upstream", "conversation.item.create")]
        assert [i["type"] for i in items] == ["function_call_output"]


async def test_progress_updates_off(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry, HostSettings(progress_updates=False, progress_interval_s=0)) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__crunch", {"steps": 3})
        await probe["crunch"].started.wait()
        await s.settle()
        items = [e["item"] for e in s.sent("upstream", "conversation.item.create")]
        assert [i["type"] for i in items] == ["function_call_output"]  # the placeholder only


async def test_session_end_cancels_running_calls(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        await s.call_tool("voice__job_keep")
        await probe["job_keep"].started.wait()
        await s.client.aclose()
        with anyio.fail_after(5):
            await probe["job_keep"].cancelled.wait()
            await s.host.closed.wait()
