"""The local voice, measured: word error rate, real-time factors, reply latency, memory.

- WER of PocketSphinx on a fixed set of eSpeak NG sentences, open vocabulary vs the session
  vocabulary the simulator builds (tool names and instructions of a small voice-assistant session).
- Real-time factor (compute seconds per second of audio) of speech-to-text and text-to-speech.
- End of user speech -> first reply audio delta, through a real WebSocket: the user's audio is
  appended, then committed with a response requested at once (with server VAD add its
  `silence_duration_ms`, default 500 ms). Sim path (the script), and local path (a loopback
  Chat Completions fake answering at once, so the figure is what mcp-voice adds to the model's
  first token). Goals: <= 500 ms (sim), <= 300 ms + first token (local).
- Extra RSS of `mcp-voice serve` with the voice (after one spoken turn) vs the tone.

    python bench/voice.py [--trials 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "sim")]

from fake_chat import Answer, fake_chat  # noqa: E402

from mcp_voice.sim import SimConfig  # noqa: E402
from mcp_voice.sim.config import LlmSettings  # noqa: E402
from mcp_voice.sim.speech import resample  # noqa: E402
from mcp_voice.sim.voice import default_speech  # noqa: E402
from mcp_voice.upstreams import open_upstream  # noqa: E402

SENTENCES = [
    "hello world please open the calendar",
    "what is the weather in oslo today",
    "list the events for tomorrow",
    "read the file called notes",
    "search my files for the budget",
    "what time is it now",
    "please tell me the forecast",
    "create an event at three",
    "thank you that is all",
    "stop and cancel the call",
]
TOOLS = [
    "calendar__list_events",
    "calendar__create_event",
    "weather__forecast",
    "files__read_file",
    "files__search",
]
INSTRUCTIONS = "You help with the calendar, the weather, the time and the user's files and notes."
SERVE_LINE = "mcp-voice listening on "


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words): Levenshtein over words."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def accuracy() -> None:
    speech = default_speech()
    assert speech and speech.synthesizer and speech.recognizer, "needs the voice extra"
    synth, rec = speech.synthesizer, speech.recognizer
    rec.transcribe(np.zeros(16000, np.int16), 16000)  # load the models before timing
    rec.transcribe(np.zeros(16000, np.int16), 16000, [*TOOLS, INSTRUCTIONS])
    tts_s = stt_s = audio_s = 0.0
    edits = {"open": 0, "session": 0}
    words = 0
    for sentence in SENTENCES:
        start = time.perf_counter()
        spoken = synth.synthesize(sentence)
        tts_s += time.perf_counter() - start
        pcm = resample(spoken.samples, spoken.rate, 24000)  # what a client sends
        audio_s += len(pcm) / 24000
        for name, vocabulary in (("open", []), ("session", [*TOOLS, INSTRUCTIONS])):
            start = time.perf_counter()
            heard = rec.transcribe(pcm, 24000, vocabulary)
            if name == "open":
                stt_s += time.perf_counter() - start
            e, n = wer(sentence, heard)
            edits[name] += e
            print(f"  [{name:7}] {sentence!r} -> {heard!r}")
        words += n
    print(f"WER open vocabulary:    {edits['open'] / words:.1%} ({edits['open']}/{words} words)")
    print(f"WER session vocabulary: {edits['session'] / words:.1%} ({edits['session']}/{words} words)")
    print(f"TTS real-time factor: {tts_s / audio_s:.4f} ({audio_s:.1f} s of speech in {tts_s:.2f} s)")
    print(f"STT real-time factor: {stt_s / audio_s:.3f} (open vocabulary)")


async def first_audio_ms(target: str, config: SimConfig, pcm: bytes, trials: int) -> list[float]:
    """Commit + response.create -> the first `response.output_audio.delta`, in ms, per trial."""
    out = []
    async with open_upstream(target, model="gpt-realtime", sim_config=config) as up:
        await up.receive()
        session = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        await up.send({"type": "session.update", "session": session})
        for _ in range(trials + 1):
            await up.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
            start = time.perf_counter()
            await up.send({"type": "input_audio_buffer.commit"})
            await up.send({"type": "response.create"})
            first = None
            while True:
                event = await up.receive()
                assert isinstance(event, dict)
                if event["type"] == "response.output_audio.delta" and first is None:
                    first = (time.perf_counter() - start) * 1000
                if event["type"] == "response.done":
                    break
            out.append(first or float("nan"))
    return out[1:]  # the first turn warms the decoders


async def latency(trials: int) -> None:
    speech = default_speech()
    assert speech and speech.synthesizer
    spoken = speech.synthesizer.synthesize("what is the weather in oslo")
    pcm = resample(spoken.samples, spoken.rate, 24000).astype("<i2").tobytes()
    sim = await first_audio_ms("sim", SimConfig(speed=0, speech=speech), pcm, trials)
    tone = await first_audio_ms("sim", SimConfig(speed=0), pcm, trials)
    answers = [Answer(text=["It is ", "cold in Oslo. ", "Bring a coat."]) for _ in range(trials + 1)]
    async with fake_chat(*answers) as fake:
        config = SimConfig(speed=0, speech=speech, llm=LlmSettings(url=fake.url, model="fake"))
        local = await first_audio_ms("local", config, pcm, trials)
    print(
        f"end of speech -> first audio, sim + voice: median {statistics.median(sim):.0f} ms "
        f"(max {max(sim):.0f}; goal <= 500)"
    )
    print(f"end of speech -> first audio, sim + tone:  median {statistics.median(tone):.0f} ms (baseline)")
    print(
        f"end of speech -> first audio, local + voice (fake model, instant first token): "
        f"median {statistics.median(local):.0f} ms (max {max(local):.0f}; goal <= 300 + first token)"
    )


async def serve_rss_kib(voice: bool, pcm: bytes) -> int:
    """RSS of a serve process after one spoken turn (voice: the extra's; else the tone)."""
    code = (
        "import sys, mcp_voice.serve.run as r\n"
        + ("" if voice else "r.default_speech = lambda: None\n")
        + "from mcp_voice.cli import main\nsys.exit(main(['serve', '--port', '0']))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "MCP_VOICE_CONFIG": os.devnull}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; the bench waits on its output)
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        line = ""
        while SERVE_LINE not in line:
            line = await asyncio.to_thread(proc.stdout.readline)
            if not line:
                raise RuntimeError("serve did not start")
        url = line.split(SERVE_LINE, 1)[1].split()[0]
        async with websockets.connect(url, max_size=None) as ws:
            session = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
            await ws.send(json.dumps({"type": "session.update", "session": session}))
            await ws.send(
                json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
            )
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await ws.send(json.dumps({"type": "response.create"}))
            while json.loads(await ws.recv())["type"] != "response.done":
                pass
            status = await asyncio.to_thread(Path(f"/proc/{proc.pid}/status").read_text)
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
    finally:
        proc.terminate()
        proc.wait(10)


async def memory() -> None:
    speech = default_speech()
    assert speech and speech.synthesizer
    spoken = speech.synthesizer.synthesize("what is the weather in oslo")
    pcm = resample(spoken.samples, spoken.rate, 24000).astype("<i2").tobytes()
    plain = await serve_rss_kib(False, pcm)
    voiced = await serve_rss_kib(True, pcm)
    print(
        f"serve RSS after one spoken turn: tone {plain / 1024:.0f} MiB, voice {voiced / 1024:.0f} MiB, "
        f"extra {(voiced - plain) / 1024:.0f} MiB ({voiced / plain:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    accuracy()
    asyncio.run(latency(args.trials))
    asyncio.run(memory())


if __name__ == "__main__":
    main()
