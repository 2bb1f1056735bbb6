"""The simulator hears and speaks for real (the `voice` extra): eSpeak NG speech in, at the wire."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from simwire import Wire, append_event, connect

pytest.importorskip("espeakng_loader")
pytest.importorskip("pocketsphinx")

from mcp_voice import g711
from mcp_voice.sim import SimConfig
from mcp_voice.sim.speech import Speech, resample
from mcp_voice.sim.voice import default_speech

pytestmark = pytest.mark.anyio

SPEECH = default_speech()
CALENDAR_TOOL = {
    "type": "function",
    "name": "calendar__open_calendar",
    "description": "Open the calendar",
    "parameters": {"type": "object", "properties": {}},
}


def voice() -> Speech:
    assert SPEECH is not None and SPEECH.synthesizer is not None and SPEECH.recognizer is not None
    return SPEECH


def said(text: str, rate: int = 24000) -> np.ndarray:
    """`text` spoken by eSpeak NG, at `rate` (what a user's microphone would send)."""
    synth = voice().synthesizer
    assert synth is not None
    spoken = synth.synthesize(text)
    return resample(spoken.samples, spoken.rate, rate)


async def reply_audio(wire: Wire) -> tuple[bytes, str, list[dict[str, Any]]]:
    events = await wire.until("response.done")
    deltas = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
    audio = b"".join(base64.b64decode(d) for d in deltas)
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    return audio, transcript, events


def assert_speech(samples: np.ndarray, rate: int) -> None:
    """Speech, not the tone: loud, with zero-crossing rates that vary from frame to frame."""
    x = samples.astype(np.float64)
    assert np.sqrt(np.mean(x * x)) > 1000, "too quiet for speech"
    frame = rate // 50
    rates = [np.mean(np.abs(np.diff(np.sign(x[i : i + frame])))) for i in range(0, len(x) - frame, frame)]
    assert np.std(rates) > 0.05, "one steady pitch: a tone, not speech"


async def test_spoken_request_is_transcribed_and_calls_the_tool_by_its_spoken_name() -> None:
    config = SimConfig(speed=0, speech=voice())
    transcription = {"model": "gpt-4o-transcribe"}
    audio_in = {"turn_detection": None, "transcription": transcription}
    async with connect(config, vad=True, audio={"input": audio_in}, tools=[CALENDAR_TOOL]) as wire:
        await wire.send(append_event(said("please open the calendar").astype("<i2").tobytes()))
        await wire.send({"type": "input_audio_buffer.commit"})
        events = await wire.until("conversation.item.input_audio_transcription.completed")
        transcript = events[-1]["transcript"]
        assert "calendar" in transcript.split(), transcript
        assert "".join(e["delta"] for e in events if e["type"].endswith("transcription.delta")) == transcript
        await wire.send({"type": "response.create"})
        done = (await wire.until("response.done"))[-1]
        (item,) = done["response"]["output"]
        assert item["type"] == "function_call" and item["name"] == "calendar__open_calendar"


async def test_reply_is_real_speech_that_a_recogniser_understands() -> None:
    async with connect(SimConfig(speed=0, speech=voice())) as wire:
        await wire.user_text("say: hello world, please open the calendar")
        await wire.send({"type": "response.create"})
        audio, transcript, events = await reply_audio(wire)
    assert transcript == "hello world, please open the calendar"
    samples = np.frombuffer(audio, "<i2")
    assert_speech(samples, 24000)
    assert len(samples) / 24000 > 1.0  # eSpeak's length, not the script's 60 ms a character
    recognizer = voice().recognizer
    assert recognizer is not None
    heard = recognizer.transcribe(samples, 24000).split()
    assert {"hello", "calendar"} & set(heard), heard
    deltas = [e for e in events if e["type"] == "response.output_audio_transcript.delta"]
    assert len(deltas) > 2, "the transcript follows the audio word by word, not all at once"


async def test_reply_in_mulaw_at_8khz_is_speech() -> None:
    audio = {"input": {"turn_detection": None}, "output": {"format": {"type": "audio/pcmu"}}}
    async with connect(SimConfig(speed=0, speech=voice()), vad=True, audio=audio) as wire:
        await wire.user_text("say: the weather in Oslo is cold today")
        await wire.send({"type": "response.create"})
        audio, _, _ = await reply_audio(wire)
    samples = g711.ulaw_decode(audio)
    assert_speech(np.asarray(samples), 8000)
    assert 1.0 < len(samples) / 8000 < 5.0


async def test_server_vad_turn_is_heard_and_answered_with_what_was_said() -> None:
    silence = np.zeros(24000, np.int16)
    async with connect(SimConfig(speed=0, speech=voice()), vad=True) as wire:
        pcm = np.concatenate([silence[:4800], said("what is the weather"), silence]).astype("<i2")
        for at in range(0, len(pcm), 4800):
            await wire.send(append_event(pcm[at : at + 4800].tobytes()))
        _, transcript, _ = await reply_audio(wire)
    assert transcript.startswith("You said: ")
    assert "weather" in transcript, transcript


async def test_local_brain_is_spoken_phrase_by_phrase_as_it_streams() -> None:
    from fake_chat import Answer, fake_chat

    from mcp_voice.sim.config import LlmSettings
    from mcp_voice.upstreams import open_upstream

    answer = Answer(text=["Hello there. ", "The weather ", "in Oslo ", "is cold."])
    async with fake_chat(answer) as fake:
        config = SimConfig(speed=0, speech=voice(), llm=LlmSettings(url=fake.url, model="m"))
        async with open_upstream("local", model="gpt-realtime", sim_config=config) as channel:
            wire = Wire(channel)
            await wire.expect("session.created")
            await wire.update(audio={"input": {"turn_detection": None}})
            await wire.user_text("how is the weather")
            await wire.send({"type": "response.create"})
            audio, transcript, events = await reply_audio(wire)
    assert transcript == "Hello there. The weather in Oslo is cold."
    done = events[-1]["response"]["output"][0]
    assert done["content"][0]["transcript"] == transcript
    assert_speech(np.frombuffer(audio, "<i2"), 24000)
