"""Barge-in: each running call follows its tool's policy (cancel, keep, announce)."""

from __future__ import annotations

import json

import pytest

from mcp_voice.tools.registry import ToolRegistry
from tests.session.servers import Probe
from tests.session.wire import Session, ev, open_session

pytestmark = pytest.mark.anyio


async def start_job(s: Session, probe: Probe, tool: str) -> dict:
    """A long-running call placed, its placeholder spoken; returns the function_call item."""
    await s.upstream("session.update")
    item = await s.call_tool(f"voice__{tool}")
    await s.upstream_item()
    await s.upstream("response.create")
    await s.respond()
    await probe[tool].started.wait()
    return item


async def barge_in(s: Session) -> None:
    await s.play(ev("input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_user"))


async def end_turn(s: Session) -> None:
    await s.play(
        ev("input_audio_buffer.speech_stopped", audio_end_ms=900, item_id="item_user"),
        ev("input_audio_buffer.committed", item_id="item_user", previous_item_id=None),
    )


async def test_cancel_sends_mcp_cancellation_and_never_injects(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        item = await start_job(s, probe, "job_cancel")
        await barge_in(s)
        await probe["job_cancel"].cancelled.wait()
        await s.settle()
        # The client saw the call end when it started (its output: the "running" placeholder);
        # a cancellation afterwards changes nothing it was shown.
        mine = [
            e for e in s.sent("client") if item["id"] in (e.get("item_id"), (e.get("item") or {}).get("id"))
        ]
        finals = [e for e in mine if e["type"] == "conversation.item.done"]
        assert len(finals) == 1 and json.loads(finals[0]["item"]["output"])["status"] == "running"
        assert "response.mcp_call.failed" not in [e["type"] for e in mine]
        await end_turn(s)
        await s.respond()  # the VAD response to the user
        probe["job_cancel"].release.set()
        await s.settle()
        creates = s.sent("upstream", "conversation.item.create")
        assert len(creates) == 1  # the placeholder only: nothing injected, ever
        assert len(s.sent("upstream", "response.create")) == 1


async def test_keep_injects_silently(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        item = await start_job(s, probe, "job_keep")
        await barge_in(s)
        await end_turn(s)
        await s.respond()
        probe["job_keep"].release.set()
        note = await s.upstream_item()
        assert item["call_id"] in note["content"][0]["text"]
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1  # the placeholder's only


async def test_announce_injects_and_speaks_when_floor_is_free(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        item = await start_job(s, probe, "job_announce")
        await barge_in(s)
        probe["job_announce"].release.set()
        note = await s.upstream_item()
        assert item["call_id"] in note["content"][0]["text"]
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1  # the user is speaking
        await s.play(
            ev("session.updated", session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        )
        await end_turn(s)
        await s.upstream("response.create")


async def test_no_barge_in_is_spoken(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        await start_job(s, probe, "job_keep")
        probe["job_keep"].release.set()
        await s.upstream_item()
        await s.upstream("response.create")


async def test_sync_call_cancelled_gets_silent_cancelled_output(registry: ToolRegistry, probe: Probe) -> None:
    async with open_session(registry) as s:
        await s.upstream("session.update")
        item = await s.call_tool("voice__fetch", {"key": "k"})
        await probe["fetch"].started.wait()
        await barge_in(s)
        await probe["fetch"].cancelled.wait()
        output = await s.upstream_item()
        assert output["call_id"] == item["call_id"] and '"cancelled"' in output["output"]
        await s.settle()
        assert s.sent("upstream", "response.create") == []


async def test_vad_response_awaited_after_commit(registry: ToolRegistry, probe: Probe) -> None:
    """After a VAD commit the server starts a response itself: the host does not race it."""
    async with open_session(registry) as s:
        await start_job(s, probe, "job_announce")
        await barge_in(s)
        probe["job_announce"].release.set()
        await s.upstream_item()
        await end_turn(s)
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1
        await s.respond()  # VAD's response covers the acknowledged result
        await s.settle()
        assert len(s.sent("upstream", "response.create")) == 1


async def test_no_vad_response_after_commit_releases_the_floor(
    registry: ToolRegistry, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mcp_voice.session.host.VAD_RESPONSE_GRACE_S", 0.05)
    async with open_session(registry) as s:
        await start_job(s, probe, "job_announce")
        await barge_in(s)
        probe["job_announce"].release.set()
        await s.upstream_item()
        await end_turn(s)  # ...but the server starts no response of its own
        await s.upstream("response.create")
