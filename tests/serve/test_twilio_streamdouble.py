"""`mcp-voice serve` taking calls from streamdouble, a third-party Twilio Media Streams simulator.

streamdouble (PyPI) plays Twilio at full protocol fidelity: it paces 20 ms μ-law frames in real
time, echoes each mark when its audio would have finished playing, drops queued marks on a
`clear`, and reports protocol violations (a wrong streamSid, bad base64, ...). Its exit code is
the verdict; its JSON report and frame trace are what the assertions below read.
"""

from __future__ import annotations

import json
import re
import sys
import wave
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from conftest import read_all, serve_process, write_config

pytestmark = pytest.mark.anyio

STREAMDOUBLE = Path(sys.executable).with_name("streamdouble")
CALL_S = 60
REPLY = "I heard you speak for 1100 ms."
"""The simulator's answer to 0.3 s of silence + 0.8 s of speech (its VAD keeps 300 ms of padding
before the speech and 500 ms of silence after it, so 1100 ms of audio make up the turn)."""


def write_wav(path: Path, *parts: tuple[float, int]) -> Path:
    """8 kHz mono PCM16 (what streamdouble streams as is): (seconds, amplitude) parts of a 300 Hz tone."""
    samples = np.concatenate(
        [(amp * np.sin(np.arange(int(8000 * s)) * 2 * np.pi * 300 / 8000)).astype("<i2") for s, amp in parts]
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())
    return path


async def streamdouble(*args: str) -> tuple[int, str, str]:
    assert STREAMDOUBLE.exists(), "streamdouble is part of the test extra: pip install -e '.[test]'"
    with anyio.fail_after(CALL_S):
        done = await anyio.run_process([str(STREAMDOUBLE), *args], check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def trace(path: Path) -> list[dict[str, Any]]:
    """streamdouble's `--trace`: one JSON object per frame, `dir` "out" (Twilio) or "in" (agent)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def phone_serve(tmp_path: Path) -> Any:
    # the tone: its length (60 ms a character of the scripted reply) is what the test checks
    args = ("--port", "0", "--upstream", "sim", "--voice", "tone", "--config", str(write_config(tmp_path)))
    return serve_process(*args, "--public-url", "https://phone.example.test", env={"TWILIO_AUTH_TOKEN": ""})


def port_of(line: str) -> int:
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
    assert match, line
    return int(match.group(1))


async def test_streamdouble_call_with_a_wav_file(tmp_path: Path) -> None:
    caller = write_wav(tmp_path / "caller.wav", (0.3, 0), (0.8, 8000), (1.0, 0))
    async with await phone_serve(tmp_path) as (proc, line):
        url = f"ws://127.0.0.1:{port_of(line)}/twilio/media"
        code, out, err = await streamdouble(
            "call", url, "--audio", str(caller), "--param", "From=+15550100", "--json"
        )
        proc.terminate()
        serve_err = await read_all(proc.stderr)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["violations"] == [] and report["unknown_events"] == []
    assert report["audio_received_ms"] == 60 * len(REPLY)  # the whole reply, 8 kHz μ-law
    assert report["marks_received"] == report["media_frames_received"] > 0  # a mark after each chunk
    assert report["marks_echoed"] == report["marks_received"]
    assert report["clears_received"] == 0
    assert "WARNING: Twilio webhooks are NOT verified" in serve_err


async def test_streamdouble_scenario_with_a_barge_in(tmp_path: Path) -> None:
    write_wav(tmp_path / "question.wav", (0.3, 0), (0.8, 8000), (1.0, 0))
    write_wav(tmp_path / "interruption.wav", (0.6, 8000))
    scenario = tmp_path / "barge-in.yaml"
    scenario.write_text(
        "name: the caller talks over the reply\n"
        "steps:\n"
        "  - say: question.wav\n"
        "  - wait_for: audio\n"
        "  - wait: 0.4\n"
        "  - say: interruption.wav\n"
        "  - expect: clear\n"
        "  - wait: 3\n"  # streams silence: the turn ends and the model answers the interruption
        "  - wait_for: quiet\n"
        "  - expect: no_violations\n"
    )
    frames = tmp_path / "trace.jsonl"
    async with await phone_serve(tmp_path) as (proc, line):
        url = f"ws://127.0.0.1:{port_of(line)}/twilio/media"
        code, out, err = await streamdouble("scenario", str(scenario), url, "--json", "--trace", str(frames))
        proc.terminate()
    assert code == 0, out + err
    report = json.loads(out)
    assert all(e["passed"] for e in report["expectations"]), report["expectations"]
    assert report["clears_received"] == 1 and report["violations"] == []
    from_serve = [r["event"] for r in trace(frames) if r["dir"] == "in"]  # "in": what the agent sent
    clear_at = from_serve.index("clear")
    before, after = from_serve[:clear_at], from_serve[clear_at + 1 :]
    assert before and before == ["media", "mark"] * (len(before) // 2)  # a mark after each chunk
    assert "media" in after, "the assistant must answer the interruption, not fall silent"
