"""The simulator speaks G.711 end to end: μ-law (and A-law) in, VAD on it, G.711 replies out."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from simwire import append_event, connect

from mcp_voice import g711
from mcp_voice.sim import SimConfig

pytestmark = pytest.mark.anyio


def speech(ms: int, amplitude: int) -> np.ndarray:
    n = 8 * ms
    return (amplitude * np.sin(np.arange(n) * 2 * np.pi * 300 / 8000)).astype(np.int16)


@pytest.mark.parametrize(
    "kind,encode,decode",
    [("audio/pcmu", g711.ulaw_encode, g711.ulaw_decode), ("audio/pcma", g711.alaw_encode, g711.alaw_decode)],
)
async def test_g711_turn_in_and_reply_out(kind, encode, decode) -> None:  # type: ignore[no-untyped-def]
    fmt = {"type": kind}
    audio = {"input": {"format": fmt}, "output": {"format": fmt}}
    async with connect(SimConfig(speed=0), vad=True, audio=audio) as wire:
        assert wire.seen[-1]["session"]["audio"]["output"]["format"]["type"] == kind
        for _ in range(20):  # 400 ms of speech in Twilio-sized 20 ms frames
            await wire.send(append_event(encode(speech(20, 8000))))
        started = await wire.expect("input_audio_buffer.speech_started")
        assert started["audio_start_ms"] == 0
        for _ in range(30):  # 600 ms of silence
            await wire.send(append_event(encode(np.zeros(160, dtype=np.int16))))
        stopped = await wire.expect("input_audio_buffer.speech_stopped")
        assert stopped["audio_end_ms"] == 400 + 500
        events = await wire.until("response.done")
        audio = b"".join(
            base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
        )
        transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
        assert transcript["transcript"] == "I heard you speak for 900 ms."
        # 8 kHz, one byte a sample: the reply tone is G.711 and as long as the simulator says
        assert len(audio) == 8 * SimConfig().ms_per_char * len(transcript["transcript"])
        level = float(np.sqrt(np.mean(decode(audio).astype(np.float64) ** 2)))
        assert 300 < level < 600  # the quiet tone (amplitude 600), decoded: not noise, not loud


async def test_quiet_mulaw_is_not_speech() -> None:
    fmt = {"type": "audio/pcmu"}
    async with connect(SimConfig(speed=0), vad=True, audio={"input": {"format": fmt}}) as wire:
        for _ in range(50):
            await wire.send(append_event(g711.ulaw_encode(speech(20, 300))))
        await wire.send({"type": "input_audio_buffer.clear"})
        await wire.expect("input_audio_buffer.cleared")  # no speech_started before it
