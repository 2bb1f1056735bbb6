"""Audio frames per second through `mcp-voice serve` vs a bare websockets pass-through relay.

Both relays run as their own process between the same client and the same upstream sink (both in
this process): up, 20 ms PCM16 frames as `input_audio_buffer.append` (client -> relay -> sink);
down, `response.output_audio.delta` events (sink -> relay -> client). Rounds alternate so load
drift hits both alike; the best round of each counts. Target: serve >= 0.8x the bare relay.

    python bench/relay.py [--frames 20000] [--rounds 3]
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

import websockets

FRAME = base64.b64encode(os.urandom(960)).decode()  # 20 ms of 24 kHz mono PCM16
APPEND = json.dumps({"type": "input_audio_buffer.append", "audio": FRAME})
SERVE_LINE = "mcp-voice listening on "
MCP_VOICE = str(Path(sys.executable).with_name("mcp-voice"))


class Sink:
    """A minimal GA upstream: counts appended frames; on a trigger message streams audio deltas."""

    def __init__(self) -> None:
        self.expected = 0
        self.count = 0
        self.done: asyncio.Future[float] | None = None
        self.port = 0

    def expect(self, frames: int) -> asyncio.Future[float]:
        self.expected, self.count = frames, 0
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    async def handler(self, ws: websockets.ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "ev_0", "session": _session()}))
        async for message in ws:
            if '"input_audio_buffer.append"' in message[:64]:
                self.count += 1
                if self.count == self.expected and self.done and not self.done.done():
                    self.done.set_result(time.perf_counter())
                continue
            event = json.loads(message)
            if event.get("type") == "response.create":
                frames = int(event.get("response", {}).get("metadata", {}).get("frames", "0"))
                await _stream_response(ws, frames)


def _session() -> dict:
    return {"type": "realtime", "object": "realtime.session", "id": "sess_bench", "model": "gpt-realtime"}


async def _stream_response(ws: websockets.ServerConnection, frames: int) -> None:
    """A realistic GA audio response: created, item and part added, `frames` deltas, done."""
    rid, iid = "resp_bench", "item_bench"
    item = {"id": iid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
    head = [
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            "response_id": rid,
            "item_id": iid,
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "audio", "transcript": ""},
        },
    ]
    for n, event in enumerate(head):
        await ws.send(json.dumps({"event_id": f"ev_h{n}", **event}))
    delta = {
        "type": "response.output_audio.delta",
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
        "delta": FRAME,
    }
    for n in range(frames):
        await ws.send(json.dumps({"event_id": f"ev_{n}", **delta}))
    item = {**item, "status": "completed"}
    await ws.send(
        json.dumps(
            {
                "type": "response.output_item.done",
                "event_id": "ev_d1",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            }
        )
    )
    await ws.send(
        json.dumps(
            {
                "type": "response.done",
                "event_id": "ev_d2",
                "response": {**response, "status": "completed", "output": [item]},
            }
        )
    )


async def bare_relay(upstream: str) -> None:
    """The baseline: forward text frames both ways, nothing else (run as a subprocess)."""

    async def handler(client: websockets.ServerConnection) -> None:
        async with websockets.connect(upstream, max_size=None, compression=None) as up:

            async def pump(a, b) -> None:  # type: ignore[no-untyped-def]
                async for message in a:
                    await b.send(message)

            tasks = [asyncio.create_task(pump(client, up)), asyncio.create_task(pump(up, client))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"{SERVE_LINE}ws://127.0.0.1:{port}/v1/realtime (upstream: bare)", flush=True)
        await asyncio.Future()


async def _start(cmd: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    if not line.startswith(SERVE_LINE):
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    return proc, line.split()[3]


async def _up_round(url: str, sink: Sink, frames: int) -> float:
    async with websockets.connect(url + "?model=gpt-realtime", max_size=None, compression=None) as ws:
        await ws.recv()  # session.created: the upstream is connected
        done = sink.expect(frames)
        start = time.perf_counter()
        for _ in range(frames):
            await ws.send(APPEND)
        end = await asyncio.wait_for(done, 120)
        return frames / (end - start)


async def _down_round(url: str, frames: int) -> float:
    async with websockets.connect(url + "?model=gpt-realtime", max_size=None, compression=None) as ws:
        await ws.recv()
        request = {"type": "response.create", "response": {"metadata": {"frames": str(frames)}}}
        await ws.send(json.dumps(request))
        seen, start = 0, 0.0
        async for message in ws:
            if '"response.output_audio.delta"' in message[:64]:
                seen += 1
                if seen == 1:
                    start = time.perf_counter()
                if seen == frames:
                    return (frames - 1) / (time.perf_counter() - start)
        raise RuntimeError("connection closed early")


async def main(frames: int, rounds: int) -> dict[str, float]:
    sink = Sink()
    async with websockets.serve(sink.handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        upstream = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        relays = {
            "bare": [sys.executable, __file__, "--bare-relay", upstream],
            "serve": [MCP_VOICE, "serve", "--port", "0", "--upstream", upstream, "--plugins", ""],
        }
        procs = {name: await _start(cmd) for name, cmd in relays.items()}
        try:
            results: dict[str, dict[str, list[float]]] = {n: {"up": [], "down": []} for n in relays}
            await _up_round(procs["bare"][1], sink, 500)  # warm-up both
            await _up_round(procs["serve"][1], sink, 500)
            for _ in range(rounds):
                for name, (_, url) in procs.items():
                    results[name]["up"].append(await _up_round(url, sink, frames))
                    results[name]["down"].append(await _down_round(url, frames))
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                await proc.wait()
    figures = {}
    for direction in ("up", "down"):
        bare, serve = (max(results[n][direction]) for n in ("bare", "serve"))
        figures[f"{direction}_bare_fps"], figures[f"{direction}_serve_fps"] = bare, serve
        figures[f"{direction}_ratio"] = serve / bare
        spread = statistics.pstdev(results["serve"][direction]) / statistics.mean(results["serve"][direction])
        print(
            f"{direction:>4}: bare relay {bare:8.0f} frames/s   serve {serve:8.0f} frames/s   "
            f"ratio {serve / bare:.2f} (target >= 0.80; serve spread {spread:.0%})"
        )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-relay", metavar="UPSTREAM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_relay:
        asyncio.run(bare_relay(args.bare_relay))
    else:
        asyncio.run(main(args.frames, args.rounds))
