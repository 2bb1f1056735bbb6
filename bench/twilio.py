"""Phone calls through `mcp-voice serve`: the host's share of reply latency, and calls held at once.

A sink upstream (its own process) plays the model; this process plays Twilio (the media stream
of `/twilio/media`) or a relay client (`/v1/realtime`, the same audio as appends and deltas):

1. latency: the caller sends speech frames, then the frame that ends the turn; the sink answers
   it at once with a realistic GA reply (speech_stopped, committed, response.created, item and
   part added, the first audio delta). Measured: caller frame sent -> first assistant media
   frame received, minus the sink's own time from that frame to its first delta (carried in the
   delta's payload). What is left is serve's share, both hops, at the wire.
2. capacity: N calls at once, each with 20 ms μ-law frames both ways in real time (and every
   mark echoed, as Twilio does). A step holds when every call got >= 95% of its frames in each
   direction and the 99th percentile of frame lateness stays under 100 ms. N grows by a quarter
   until a step fails; the same ramp runs over the relay endpoint, and the ratio is printed.
   Serve's CPU share per step says whether serve or this load generator ran out first.

    python bench/twilio.py [--turns 50] [--seconds 4] [--max-calls 640]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets

SERVE_LINE = "mcp-voice listening on "
MCP_VOICE = str(Path(sys.executable).with_name("mcp-voice"))
FRAME_S = 0.020
FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law
END_OF_SPEECH = 0xEE
STAMP = struct.Struct("<Bddd")  # marker, t_sent, sink_t_in, uplink lateness (max since last frame)
HOLD_SHARE, HOLD_P99_S = 0.95, 0.100


def payload(marker: int, sent: float, t_in: float = 0.0, late: float = 0.0) -> str:
    data = STAMP.pack(marker, sent, t_in, late)
    return base64.b64encode(data + b"\xff" * (FRAME_BYTES - len(data))).decode()


def unstamp(b64: str) -> tuple[int, float, float, float]:
    return STAMP.unpack_from(base64.b64decode(b64))


# -- the sink upstream (a subprocess) -----------------------------------------------------------


async def sink(mode: str) -> None:
    """A GA upstream: in "latency" mode it answers each end-of-speech frame with a reply; in
    "stream" mode it sends a 20 ms delta every 20 ms and reports uplink lateness inside them."""

    async def handler(ws: websockets.ServerConnection) -> None:
        session = {"type": "realtime", "object": "realtime.session", "id": "sess_bench", "model": "m"}
        await ws.send(json.dumps({"type": "session.created", "event_id": "ev_0", "session": session}))
        worst = [0.0]
        streamer = asyncio.create_task(_stream(ws, worst)) if mode == "stream" else None
        turn = 0
        try:
            async for message in ws:
                if '"input_audio_buffer.append"' not in message[:64]:
                    continue
                now = time.monotonic()
                marker, sent, _, _ = unstamp(json.loads(message)["audio"])
                worst[0] = max(worst[0], now - sent)
                if mode == "latency" and marker == END_OF_SPEECH:
                    turn += 1
                    await _reply(ws, turn, now)
        finally:
            if streamer is not None:
                streamer.cancel()

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


async def _reply(ws: websockets.ServerConnection, turn: int, t_in: float) -> None:
    rid, iid = f"resp_{turn}", f"item_{turn}"
    item = {"id": iid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    where = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
    events = [
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1000 * turn, "item_id": f"u{turn}"},
        {"type": "input_audio_buffer.committed", "item_id": f"u{turn}", "previous_item_id": None},
        {
            "type": "response.created",
            "response": {"id": rid, "object": "realtime.response", "status": "in_progress"},
        },
        {"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item},
        {"type": "conversation.item.added", "previous_item_id": None, "item": item},
        {"type": "response.content_part.added", **where, "part": {"type": "audio", "transcript": ""}},
    ]
    for n, event in enumerate(events):
        await ws.send(json.dumps({"event_id": f"ev_{turn}_{n}", **event}))
    delta = payload(1, time.monotonic(), t_in)
    await ws.send(
        json.dumps(
            {"type": "response.output_audio.delta", "event_id": f"ev_{turn}_d", **where, "delta": delta}
        )
    )
    done = {"id": rid, "object": "realtime.response", "status": "completed", "output": [item]}
    await ws.send(json.dumps({"type": "response.output_audio.done", "event_id": f"ev_{turn}_ad", **where}))
    await ws.send(json.dumps({"type": "response.done", "event_id": f"ev_{turn}_rd", "response": done}))


async def _stream(ws: websockets.ServerConnection, worst: list[float]) -> None:
    where = {"response_id": "resp_s", "item_id": "item_s", "output_index": 0, "content_index": 0}
    start, n = time.monotonic(), 0
    while True:
        n += 1
        late, worst[0] = worst[0], 0.0
        delta = payload(1, time.monotonic(), 0.0, late)
        await ws.send(
            json.dumps({"type": "response.output_audio.delta", "event_id": f"e{n}", **where, "delta": delta})
        )
        await asyncio.sleep(max(0.0, start + n * FRAME_S - time.monotonic()))


# -- callers ------------------------------------------------------------------------------------


class Call:
    """One caller: Twilio on /twilio/media, or a Realtime client on /v1/realtime."""

    def __init__(self, base: str, phone: bool) -> None:
        self.phone = phone
        self.url = f"{base}/twilio/media" if phone else f"{base}/v1/realtime?model=gpt-realtime"
        self.sid = "MZbench"
        self.ws: websockets.ClientConnection | None = None

    async def __aenter__(self) -> Call:
        self.ws = await websockets.connect(self.url, max_size=None, compression=None)
        if self.phone:
            await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            start = {
                "streamSid": self.sid,
                "callSid": "CAbench",
                "accountSid": "ACbench",
                "customParameters": {},
            }
            await self.ws.send(
                json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": self.sid, "start": start})
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.ws is not None
        if self.phone:
            await self.ws.send(json.dumps({"event": "stop", "sequenceNumber": "9", "streamSid": self.sid}))
        await self.ws.close()

    async def send_frame(self, marker: int = 1) -> None:
        assert self.ws is not None
        audio = payload(marker, time.monotonic())
        if self.phone:
            media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": audio}
            await self.ws.send(
                json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": self.sid, "media": media})
            )
        else:
            await self.ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))

    async def next_audio(self) -> str:
        """The next assistant audio payload (marks are echoed on the way, as Twilio does)."""
        assert self.ws is not None
        async for message in self.ws:
            event = json.loads(message)
            if self.phone and event.get("event") == "media":
                return str(event["media"]["payload"])
            if self.phone and event.get("event") == "mark":
                await self.ws.send(
                    json.dumps(
                        {"event": "mark", "sequenceNumber": "3", "streamSid": self.sid, "mark": event["mark"]}
                    )
                )
            elif event.get("type") == "response.output_audio.delta":
                return str(event["delta"])
        raise RuntimeError("the call ended early")


async def latency(base: str, phone: bool, turns: int) -> list[float]:
    """Serve's share (ms) of each turn's time from the last caller frame to the first reply frame."""
    shares = []
    async with Call(base, phone) as call:
        for _ in range(turns):
            for _ in range(5):
                await call.send_frame()
                await asyncio.sleep(FRAME_S)
            t0 = time.monotonic()
            await call.send_frame(END_OF_SPEECH)
            audio = await call.next_audio()
            t3 = time.monotonic()
            _, sink_out, sink_in, _ = unstamp(audio)
            shares.append(((t3 - t0) - (sink_out - sink_in)) * 1000)
            await asyncio.sleep(0.05)
    return shares


@dataclass
class Held:
    down: list[float] = field(default_factory=list)
    up: list[float] = field(default_factory=list)
    frames_down: int = 0
    frames_up: int = 0


async def one_streaming_call(
    base: str, phone: bool, seconds: float, stats: Held, ready: asyncio.Event
) -> None:
    async with Call(base, phone) as call:
        await ready.wait()
        start, frames = time.monotonic(), int(seconds / FRAME_S)

        async def send() -> None:
            for n in range(frames):
                await call.send_frame()
                await asyncio.sleep(max(0.0, start + (n + 1) * FRAME_S - time.monotonic()))

        async def receive() -> None:
            while time.monotonic() < start + seconds:
                audio = await call.next_audio()
                _, sent, _, uplink_late = unstamp(audio)
                if start <= sent < start + seconds:
                    stats.frames_down += 1
                    stats.down.append(time.monotonic() - sent)
                    stats.up.append(uplink_late)

        sender = asyncio.create_task(send())
        try:
            await asyncio.wait_for(receive(), seconds + 5)
        except (TimeoutError, RuntimeError):
            pass
        await sender
        stats.frames_up += frames


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (Linux /proc), to tell whether serve or this load was the limit."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def capacity(
    base: str, phone: bool, seconds: float, max_calls: int, serve_pid: int
) -> tuple[int, list[str], float]:
    """The most calls held, a line per step, and serve's CPU per call (share of a core) when held."""
    held, lines, n, per_call = 0, [], 10, float("nan")
    while n <= max_calls:
        calls = [Held() for _ in range(n)]
        ready = asyncio.Event()
        tasks = [asyncio.create_task(one_streaming_call(base, phone, seconds, s, ready)) for s in calls]
        await asyncio.sleep(min(5.0, 0.02 * n + 0.5))  # let every call connect before the clock starts
        cpu_before, wall_before = cpu_seconds(serve_pid), time.monotonic()
        ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        expected = int(seconds / FRAME_S)
        share = min(s.frames_down for s in calls) / expected
        lateness = sorted(x for s in calls for x in s.down + s.up)
        p99 = lateness[int(len(lateness) * 0.99)] if lateness else float("inf")
        ok = share >= HOLD_SHARE and p99 <= HOLD_P99_S
        busy = (cpu_seconds(serve_pid) - cpu_before) / (time.monotonic() - wall_before)
        verdict = "held" if ok else "NOT held"
        lines.append(
            f"{n:5d} calls: worst call got {share:.0%} of its frames, "
            f"p99 lateness {p99 * 1000:6.1f} ms, serve CPU {busy:4.0%}  {verdict}"
        )
        if not ok:
            break
        held, n, per_call = n, math.ceil(n * 1.25), busy / n
    return held, lines, per_call


async def _start(cmd: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    return proc, line


async def main(turns: int, seconds: float, max_calls: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for mode in ("latency", "stream"):
        sink_proc, sink_url = await _start([sys.executable, __file__, "--sink", mode])
        cmd = [MCP_VOICE, "serve", "--port", "0", "--upstream", sink_url, "--plugins", ""]
        serve_proc, line = await _start([*cmd, "--public-url", "http://127.0.0.1"])
        try:
            if not line.startswith(SERVE_LINE):
                raise RuntimeError(f"serve did not start: {line!r}")
            base = line.split()[3].removesuffix("/v1/realtime")
            if mode == "latency":
                for name, phone in (("phone", True), ("relay", False)):
                    await latency(base, phone, 5)  # warm-up
                    shares = await latency(base, phone, turns)
                    median, p95 = statistics.median(shares), sorted(shares)[int(len(shares) * 0.95)]
                    figures[f"{name}_share_ms"] = median
                    print(
                        f"{name:>6}: serve's share of reply latency  median {median:5.2f} ms   "
                        f"p95 {p95:5.2f} ms  ({turns} turns)"
                    )
                print(
                    f"        ratio phone/relay {figures['phone_share_ms'] / figures['relay_share_ms']:.2f}"
                )
            else:
                for name, phone in (("phone", True), ("relay", False)):
                    held, lines, per_call = await capacity(base, phone, seconds, max_calls, serve_proc.pid)
                    figures[f"{name}_calls_held"], figures[f"{name}_cpu_per_call"] = held, per_call
                    for text in lines:
                        print(f"{name:>6}: {text}")
                phone_held, relay_held = figures["phone_calls_held"], figures["relay_calls_held"]
                print(
                    f"calls held at once (20 ms frames both ways): phone {phone_held:.0f}, "
                    f"relay {relay_held:.0f}, ratio {phone_held / max(1, relay_held):.2f}"
                )
                phone_cpu, relay_cpu = figures["phone_cpu_per_call"], figures["relay_cpu_per_call"]
                print(
                    f"serve CPU per call: phone {phone_cpu:.2%} of a core (~{1 / phone_cpu:.0f} calls/core), "
                    f"relay {relay_cpu:.2%} (~{1 / relay_cpu:.0f}/core), ratio {relay_cpu / phone_cpu:.2f}"
                    "  (when serve's CPU stays far below 100%, this process ran out first)"
                )
        finally:
            for proc in (serve_proc, sink_proc):
                proc.terminate()
                await proc.wait()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--max-calls", type=int, default=640)
    parser.add_argument("--sink", choices=["latency", "stream"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.run(sink(args.sink))
    else:
        asyncio.run(main(args.turns, args.seconds, args.max_calls))
