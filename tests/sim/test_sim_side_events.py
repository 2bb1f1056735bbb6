"""What the simulator sends beside the conversation: input transcripts, rate limits, the idle timeout."""

from __future__ import annotations

import pytest
from simwire import append_event, connect, pcm

from mcp_voice.sim import SimConfig

pytestmark = pytest.mark.anyio

LOUD = 8000
TRANSCRIBE = {"model": "gpt-4o-transcribe"}


async def test_input_transcription_when_asked() -> None:
    async with connect(
        vad=True, audio={"input": {"turn_detection": None, "transcription": TRANSCRIBE}}
    ) as wire:
        await wire.send(append_event(pcm(300, LOUD)))
        await wire.send({"type": "input_audio_buffer.commit"})
        item_id = (await wire.expect("input_audio_buffer.committed"))["item_id"]
        await wire.expect("conversation.item.added")
        await wire.expect("conversation.item.done")
        events = await wire.until("conversation.item.input_audio_transcription.completed")
        deltas = [e for e in events if e["type"].endswith("transcription.delta")]
        assert "".join(e["delta"] for e in deltas) == "This is simulated speech."
        completed = events[-1]
        assert completed["item_id"] == item_id and completed["transcript"] == "This is simulated speech."
        assert completed["usage"] == {"type": "duration", "seconds": 0.3}
        await wire.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = await wire.expect("conversation.item.retrieved")
        assert retrieved["item"]["content"][0]["transcript"] == "This is simulated speech."


async def test_no_transcript_without_transcription() -> None:
    async with connect() as wire:
        await wire.send(append_event(pcm(300, LOUD)))
        await wire.send({"type": "input_audio_buffer.commit"})
        await wire.expect("input_audio_buffer.committed")
        await wire.expect("conversation.item.added")
        await wire.expect("conversation.item.done")
        await wire.send({"type": "input_audio_buffer.clear"})
        await wire.expect("input_audio_buffer.cleared")  # next: nothing about a transcript came between


async def test_rate_limits_after_each_response() -> None:
    async with connect(output_modalities=["text"]) as wire:
        remaining = []
        for text in ("say: one", "say: two"):
            await wire.user_text(text)
            await wire.send({"type": "response.create"})
            done = (await wire.until("response.done"))[-1]
            limits = await wire.receive()
            assert limits["type"] == "rate_limits.updated", limits
            by_name = {limit["name"]: limit for limit in limits["rate_limits"]}
            assert (
                by_name["tokens"]["limit"] - by_name["tokens"]["remaining"]
                >= done["response"]["usage"]["total_tokens"]
            )
            remaining.append((by_name["requests"]["remaining"], by_name["tokens"]["remaining"]))
        assert remaining[1][0] == remaining[0][0] - 1 and remaining[1][1] < remaining[0][1]


async def test_idle_timeout_triggers_a_turn_after_a_reply() -> None:
    vad = {"type": "server_vad", "idle_timeout_ms": 5000, "create_response": True}
    # speed 0.02: the 5 s timeout passes in 0.1 s
    async with connect(
        SimConfig(speed=0.02), vad=True, output_modalities=["text"], audio={"input": {"turn_detection": vad}}
    ) as wire:
        await wire.user_text("say: hello")
        await wire.send({"type": "response.create"})
        await wire.until("response.done")
        await wire.expect("rate_limits.updated")
        timeout = await wire.expect("input_audio_buffer.timeout_triggered")
        assert 0 <= timeout["audio_start_ms"] <= timeout["audio_end_ms"]
        committed = await wire.expect("input_audio_buffer.committed")
        assert committed["item_id"] == timeout["item_id"]
        await wire.expect("conversation.item.added")
        await wire.expect("conversation.item.done")
        await wire.expect("response.created")  # the model prompts the user to go on
        reply = await wire.until("response.output_text.done")
        assert reply[-1]["text"].startswith("I heard you speak for")


async def test_speech_disarms_the_idle_timeout() -> None:
    vad = {
        "type": "server_vad",
        "idle_timeout_ms": 5000,
        "create_response": False,
        "silence_duration_ms": 200,
    }
    async with connect(
        SimConfig(speed=2), vad=True, output_modalities=["text"], audio={"input": {"turn_detection": vad}}
    ) as wire:
        await wire.user_text("say: hello")
        await wire.send({"type": "response.create"})
        await wire.until("response.done")
        await wire.expect("rate_limits.updated")
        await wire.send(append_event(pcm(300, LOUD)))  # the user speaks well within the 10 s
        await wire.expect("input_audio_buffer.speech_started")
        await wire.send(append_event(pcm(300, 0)))
        await wire.expect("input_audio_buffer.speech_stopped")
        await wire.expect("input_audio_buffer.committed")
        await wire.expect("conversation.item.added")
        await wire.expect("conversation.item.done")
        await wire.send({"type": "input_audio_buffer.clear"})
        await wire.expect("input_audio_buffer.cleared")  # no timeout_triggered in between
