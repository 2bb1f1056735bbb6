"""Input audio at the wire: server VAD turns, barge-in, manual commit, truncation."""

from __future__ import annotations

import base64

import anyio
import pytest
from simwire import append_event, connect, pcm

from mcp_voice.sim import SimConfig
from mcp_voice.sim.audio import AudioFormat, decode, encode, rms, tone
from mcp_voice.sim.vad import InputAudioBuffer

pytestmark = pytest.mark.anyio

LOUD = 8000


async def test_vad_turn_commits_and_replies() -> None:
    async with connect(SimConfig(speed=0), vad=True) as wire:
        await wire.send(append_event(pcm(200, 0)))
        await wire.send(append_event(pcm(400, LOUD)))
        started = await wire.expect("input_audio_buffer.speech_started")
        assert started["audio_start_ms"] == 0  # 300 ms of padding, but only 200 ms came before
        for _ in range(6):  # 600 ms of silence in 100 ms appends
            await wire.send(append_event(pcm(100, 0)))
        stopped = await wire.expect("input_audio_buffer.speech_stopped")
        assert stopped["item_id"] == started["item_id"]
        assert stopped["audio_end_ms"] == 200 + 400 + 500
        committed = await wire.expect("input_audio_buffer.committed")
        assert committed["item_id"] == started["item_id"]
        added = await wire.expect("conversation.item.added")
        assert added["item"]["content"][0]["type"] == "input_audio"
        await wire.expect("conversation.item.done")
        events = await wire.until("response.done")
        transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")[
            "transcript"
        ]
        assert transcript == "I heard you speak for 1100 ms."  # 200 padding + 400 speech + 500 silence


async def test_quiet_reply_tone_does_not_trigger_vad() -> None:
    async with connect(SimConfig(speed=0), vad=True) as wire:
        cfg = SimConfig()
        echo = tone(AudioFormat(), 500, cfg.tone_hz, cfg.tone_amplitude)
        await wire.send(append_event(echo))
        await wire.send({"type": "input_audio_buffer.clear"})
        await wire.expect("input_audio_buffer.cleared")  # no speech_started before it


async def test_interrupt_response_cancels_with_turn_detected_and_truncate() -> None:
    async with connect(SimConfig(speed=3.0), vad=True) as wire:
        await wire.user_text("say: " + "a fairly long answer that keeps going " * 3)
        await wire.send({"type": "response.create"})
        deltas = 0
        item_id = ""
        while deltas < 2:  # at least 200 ms of audio has been sent
            event = await wire.receive()
            if event["type"] == "response.output_audio.delta":
                deltas += 1
                item_id = event["item_id"]
        await wire.send(append_event(pcm(100, LOUD)))
        events = await wire.until("response.done")
        kinds = [e["type"] for e in events]
        assert "input_audio_buffer.speech_started" in kinds
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
        sent_ms = (
            sum(
                len(base64.b64decode(e["delta"]))
                for e in wire.seen
                if e["type"] == "response.output_audio.delta"
            )
            // 48
        )
        assert 200 <= sent_ms < 6000

        await wire.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 150,
            }
        )
        truncated = await wire.expect("conversation.item.truncated")
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 150)
        await wire.send(
            {
                "type": "conversation.item.truncate",
                "event_id": "evt_t",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 151,
            }
        )
        error = (await wire.expect("error"))["error"]
        assert (error["param"], error["event_id"]) == ("audio_end_ms", "evt_t")


async def test_truncate_past_the_audio_sent_is_an_error() -> None:
    async with connect(SimConfig(speed=0, ms_per_char=10)) as wire:
        await wire.user_text("say: short")
        await wire.send({"type": "response.create"})
        done = (await wire.until("response.done"))[-1]["response"]
        item_id = done["output"][0]["id"]
        await wire.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 5000,
            }
        )
        error = (await wire.expect("error"))["error"]
        assert error["code"] == "invalid_value" and "200ms" in error["message"]  # min_audio_ms
        await wire.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 200,
            }
        )
        await wire.expect("conversation.item.truncated")
        await wire.send({"type": "conversation.item.retrieve", "item_id": item_id})
        item = (await wire.expect("conversation.item.retrieved"))["item"]
        assert item["content"][0]["transcript"] == ""


async def test_manual_commit_and_clear() -> None:
    async with connect() as wire:
        await wire.send({"type": "input_audio_buffer.commit", "event_id": "evt_empty"})
        error = (await wire.expect("error"))["error"]
        assert (error["code"], error["event_id"]) == ("input_audio_buffer_commit_empty", "evt_empty")
        await wire.send(append_event(pcm(300, LOUD)))
        await wire.send({"type": "input_audio_buffer.commit"})
        committed = await wire.expect("input_audio_buffer.committed")
        added = await wire.expect("conversation.item.added")
        assert added["item"]["id"] == committed["item_id"]
        await wire.expect("conversation.item.done")
        await wire.send(append_event(pcm(300, LOUD)))
        await wire.send({"type": "input_audio_buffer.clear"})
        await wire.expect("input_audio_buffer.cleared")
        await wire.send({"type": "response.create"})  # VAD is off: no automatic response
        events = await wire.until("response.done")
        transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")[
            "transcript"
        ]
        assert transcript == "I heard you speak for 300 ms."


async def test_g711_session_decodes_for_vad_and_speaks_mulaw() -> None:
    ulaw = AudioFormat("audio/pcmu")
    samples = decode(pcm(300, LOUD), AudioFormat())
    speech = encode(samples[::3], ulaw)  # 24 kHz -> 8 kHz
    formats = {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}
    async with connect(SimConfig(speed=0, ms_per_char=10), vad=True, audio=formats) as wire:
        await wire.send(append_event(speech + bytes([0xFF]) * 8 * 600))  # 0xFF is μ-law silence
        await wire.expect("input_audio_buffer.speech_started")
        await wire.expect("input_audio_buffer.speech_stopped")
        events = await wire.until("response.done")
        audio = b"".join(
            base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
        )
        text = next(e for e in events if e["type"] == "response.output_audio_transcript.done")["transcript"]
        assert len(audio) == max(200, len(text) * 10) * 8


def test_g711_round_trip_and_levels() -> None:
    samples = decode(pcm(20, LOUD), AudioFormat())
    for kind in ("audio/pcmu", "audio/pcma"):
        fmt = AudioFormat(kind)
        back = decode(encode(samples, fmt), fmt)
        assert all(abs(a - b) <= max(64, abs(a) // 16) for a, b in zip(samples, back, strict=True))
    assert rms(decode(pcm(20, 0), AudioFormat())) == 0.0
    assert 0.15 < rms(samples) < 0.2


async def test_speed_paces_audio_in_real_time() -> None:
    async with connect(SimConfig(speed=1.0, ms_per_char=10, min_audio_ms=300)) as wire:
        await wire.user_text("say: hi")
        await wire.send({"type": "response.create"})
        await wire.expect("response.created")
        start = anyio.current_time()
        await wire.until("response.done")
        assert anyio.current_time() - start >= 0.25  # 300 ms of audio, paced


def test_audio_keeps_its_order_when_vad_is_turned_off_mid_frame() -> None:
    """Less than a frame waits for VAD; turning VAD off must not let later audio jump ahead of it."""
    buffer = InputAudioBuffer(AudioFormat(), {"type": "server_vad"})
    first = b"\x01\x00" * 24 * 15 + b"\x01"  # 15 ms and an odd byte: 10 ms judged, the rest pending
    second = b"\x00" + b"\x02\x00" * 24 * 100
    assert buffer.append(first) == []
    buffer.configure(AudioFormat(), None)
    buffer.append(second)
    audio, _ = buffer.commit()
    assert audio == first + second
    assert buffer.ms == 0
