"""End to end: a client, the host, and the simulator over a real WebSocket."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from mcp_voice.session import SessionHost, channel_pair, host_session
from mcp_voice.sim.config import SimConfig
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.upstreams import open_upstream
from tests.session.servers import Probe
from tests.session.wire import Recorder, assert_ga, check_response_creates

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def sim_host(registry: ToolRegistry) -> AsyncIterator[tuple[Any, list, SessionHost]]:
    """A client end, the whole timeline and the host, in front of a simulator (checked at the end)."""
    timeline: list[tuple[str, Any]] = []
    client_end, host_client = channel_pair()
    async with open_upstream("sim", model="gpt-realtime", sim_config=SimConfig(speed=0)) as upstream:
        recorded = Recorder(upstream, "upstream", timeline)
        try:
            async with host_session(registry, recorded, Recorder(host_client, "client", timeline)) as host:
                yield client_end, timeline, host
        finally:
            await client_end.aclose()
    check_response_creates(timeline)
    for direction, event in timeline:
        if direction == "to_client":
            assert_ga(event)
        if direction == "from_upstream":
            assert event.get("type") != "error", event


@asynccontextmanager
async def sim_session(registry: ToolRegistry) -> AsyncIterator[tuple[Any, list]]:
    async with sim_host(registry) as (client, timeline, _):
        yield client, timeline


def say(text: str) -> dict:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": item}


async def spoken(client: Any) -> str:
    """The transcript of the next completed response with an assistant message."""
    with anyio.fail_after(10):
        while True:
            event = await client.receive()
            if event["type"] == "response.done":
                for item in event["response"].get("output") or ():
                    if item["type"] == "message":
                        return " ".join(c.get("transcript") or c.get("text") or "" for c in item["content"])


async def test_sync_tool_through_the_simulator(registry: ToolRegistry) -> None:
    async with sim_session(registry) as (client, timeline):
        await client.send(say('please use voice__add {"a": 2, "b": 40}'))
        await client.send({"type": "response.create"})
        text = await spoken(client)
        assert "Tool result" in text and "42" in text
        kinds = [e["type"] for d, e in timeline if d == "to_client"]
        assert "response.mcp_call.completed" in kinds and "response.function_call_arguments.done" not in kinds


async def test_long_running_tool_through_the_simulator(registry: ToolRegistry, probe: Probe) -> None:
    async with sim_session(registry) as (client, timeline):
        await client.send(say('run voice__job_announce {"topic": "tides"}'))
        await client.send({"type": "response.create"})
        assert '"running"' in await spoken(client)  # the model tells the user it started
        probe["job_announce"].release.set()
        text = await spoken(client)
        assert "report on tides" in text
        creates = [e for d, e in timeline if d == "to_upstream" and e["type"] == "response.create"]
        assert len(creates) == 3  # the client's, the placeholder's, the result's
        notes = [e for d, e in timeline if d == "to_upstream" and "background job" in json.dumps(e)]
        assert len(notes) == 1


# -- barge-in with the simulator's VAD: speech_started comes from the energy of appended PCM -------

LOUD = 8000


def pcm_append(ms: int, amplitude: int) -> dict:
    """`ms` of PCM16 24 kHz (a 300 Hz sine; amplitude 0 is silence) as an append event."""
    n = 24 * ms
    samples = (int(amplitude * math.sin(2 * math.pi * 300 * i / 24000)) for i in range(n))
    audio = base64.b64encode(struct.pack(f"<{n}h", *samples)).decode()
    return {"type": "input_audio_buffer.append", "audio": audio}


async def until(client: Any, kind: str) -> dict:
    with anyio.fail_after(10):
        while True:
            event = await client.receive()
            if event["type"] == kind:
                return event


def host_creates(timeline: list) -> list[int]:
    """Timeline positions of every `response.create` sent upstream."""
    return [i for i, (d, e) in enumerate(timeline) if d == "to_upstream" and e["type"] == "response.create"]


def position(timeline: list, direction: str, kind: str) -> int:
    return next(i for i, (d, e) in enumerate(timeline) if d == direction and e["type"] == kind)


def result_notes(timeline: list, call_id: str) -> list[dict]:
    return [
        e
        for d, e in timeline
        if d == "to_upstream"
        and e["type"] == "conversation.item.create"
        and e["item"].get("role") == "system"
        and call_id in json.dumps(e)
    ]


@pytest.mark.parametrize("policy", ["cancel", "keep", "announce"])
async def test_barge_in_from_simulator_vad(registry: ToolRegistry, probe: Probe, policy: str) -> None:
    """Audio in, the simulator's VAD says speech_started, the running call follows its policy."""
    gate = probe[f"job_{policy}"]
    async with sim_host(registry) as (client, timeline, host):
        # server VAD that does not answer by itself: every response after the turn is the host's
        vad = {"type": "server_vad", "create_response": False, "silence_duration_ms": 300}
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": vad}}},
            }
        )
        await until(client, "session.updated")
        await client.send(say(f'run voice__job_{policy} {{"topic": "tides"}}'))
        await client.send({"type": "response.create"})
        assert '"running"' in await spoken(client)
        with anyio.fail_after(5):
            await gate.started.wait()
        [running] = host.calls.running
        call_id = running.view.call_id

        await client.send(pcm_append(300, LOUD))
        await until(client, "input_audio_buffer.speech_started")
        await wait_all_tasks_blocked()
        assert running.barged_in
        if policy == "cancel":
            with anyio.fail_after(5):
                await gate.cancelled.wait()
        else:
            gate.release.set()  # the result arrives while the user is still speaking
        # The client saw the placeholder call end when it started: only the host knows when it is over.
        await wait_all_tasks_blocked()
        assert host.calls.running == []
        assert len(host_creates(timeline)) == 2  # the client's and the placeholder's: none while speaking

        await client.send(pcm_append(500, 0))
        await until(client, "input_audio_buffer.committed")
        if policy == "announce":
            reply = await spoken(client)  # the floor is free: the host asks for the result to be spoken
            assert reply
            creates = host_creates(timeline)
            assert len(creates) == 3
            assert creates[-1] > position(timeline, "from_upstream", "input_audio_buffer.committed")
        gate.release.set()
        await wait_all_tasks_blocked()
        assert len(result_notes(timeline, call_id)) == (0 if policy == "cancel" else 1)
        if policy != "announce":
            assert len(host_creates(timeline)) == 2  # cancel: nothing to say; keep: injected silently
