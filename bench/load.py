"""Load: how many live sessions one `mcp-voice serve` holds in real time, vs a bare websockets relay.

Each session streams 20 ms audio frames both ways in real time (client `input_audio_buffer.append`
up, upstream `response.output_audio.delta` down) and, through serve, makes a tool call every
`--call-every` seconds (the upstream plays a model calling `testtools__lookup`; serve runs it and
answers). Measured per run: frames delivered both ways, frame lateness (how long after its
schedule a frame arrived) percentiles, tool results delivered against calls made (must be equal).

A level "holds" when every frame arrived and the p99 lateness stays under `--late-ms`. The
number of sessions each relay holds is found by doubling, then bisecting, in the same run, and
printed with the ratio (goal: serve >= 1.0x the bare relay). Then 1,000 idle sessions: the
relay process's memory per session (RSS growth / sessions).

    python bench/load.py [--seconds 5] [--max-sessions 400] [--idle 1000]

The client and the upstream run in this process, both relays as their own processes; on a
shared 2-core machine the figures are noisy, the ratio less so.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets

FRAME_S = 0.02
FRAME = base64.b64encode(os.urandom(960)).decode()  # 20 ms of 24 kHz mono PCM16
SERVE_LINE = "mcp-voice listening on "
MCP_VOICE = str(Path(sys.executable).with_name("mcp-voice"))
TOOL_SERVER = Path(__file__).resolve().parents[1] / "tests" / "serve" / "tool_server.py"
TOOL = "testtools__lookup"
RELAY_BENCH = Path(__file__).with_name("relay.py")
"""Its `--bare-relay` mode is the baseline here too: the same bare relay in both benches."""


@dataclass
class Tally:
    """What one run saw, all sessions together."""

    up_sent: int = 0
    up_received: int = 0
    down_sent: int = 0
    down_received: int = 0
    calls: int = 0
    results: int = 0
    late_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.late_ms:
            return 0.0
        ordered = sorted(self.late_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def complete(self) -> bool:
        return self.up_received == self.up_sent and self.down_received == self.down_sent


class Upstream:
    """A GA upstream: counts appends (and their lateness), streams audio down, plays tool calls."""

    def __init__(self, tally: Tally, call_every_s: float | None) -> None:
        self.tally = tally
        self.call_every_s = call_every_s
        self.seconds = 0.0
        self.go = asyncio.Event()

    async def handler(self, ws: websockets.ServerConnection) -> None:
        session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_load",
            "model": "gpt-realtime",
        }
        await ws.send(json.dumps({"type": "session.created", "event_id": "ev_0", "session": session}))
        tasks = [asyncio.create_task(self._stream(ws))]
        if self.call_every_s:
            tasks.append(asyncio.create_task(self._calls(ws)))
        try:
            async for message in ws:
                head = message[:80]
                if '"input_audio_buffer.append"' in head:
                    self.tally.up_received += 1
                    sent = float(json.loads(message)["event_id"][3:])
                    self.tally.late_ms.append((time.time() - sent) * 1000)
                    continue
                event = json.loads(message)
                kind = event.get("type")
                if kind == "conversation.item.create" and event["item"].get("type") == "function_call_output":
                    self.tally.results += 1
                elif kind == "response.create":
                    await self._empty_response(ws)
        except websockets.ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()

    async def _stream(self, ws: websockets.ServerConnection) -> None:
        """One delta every 20 ms on a fixed schedule; the event_id carries the scheduled time."""
        await self.go.wait()
        start = time.time()
        for n in range(1, int(self.seconds / FRAME_S) + 1):
            due = start + n * FRAME_S
            await asyncio.sleep(max(0.0, due - time.time()))
            delta = {
                "type": "response.output_audio.delta",
                "event_id": f"ev_{due:.6f}",
                "response_id": "resp_load",
                "item_id": "item_load",
                "output_index": 0,
                "content_index": 0,
                "delta": FRAME,
            }
            await ws.send(json.dumps(delta))
            self.tally.down_sent += 1

    async def _calls(self, ws: websockets.ServerConnection) -> None:
        assert self.call_every_s is not None
        await self.go.wait()
        for n in range(1, int((self.seconds - 0.5) / self.call_every_s) + 1):
            await asyncio.sleep(self.call_every_s)
            rid, iid = f"resp_call{n}", f"item_call{n}"
            item = {
                "id": iid,
                "type": "function_call",
                "object": "realtime.item",
                "status": "completed",
                "name": TOOL,
                "call_id": f"call_{id(ws)}_{n}",
                "arguments": json.dumps({"city": "Oslo"}),
            }
            response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
            events = [
                {"type": "response.created", "response": response},
                {"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": item},
                {"type": "response.done", "response": {**response, "status": "completed", "output": [item]}},
            ]
            for k, event in enumerate(events):
                await ws.send(json.dumps({"event_id": f"ev_c{n}_{k}", **event}))
            self.tally.calls += 1

    async def _empty_response(self, ws: websockets.ServerConnection) -> None:
        rid = f"resp_{time.monotonic_ns()}"
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
        await ws.send(json.dumps({"type": "response.created", "event_id": "ev_r1", "response": response}))
        done = {**response, "status": "completed"}
        await ws.send(json.dumps({"type": "response.done", "event_id": "ev_r2", "response": done}))


async def client(url: str, tally: Tally, seconds: float, connected: asyncio.Event, go: asyncio.Event) -> None:
    """One session: connect, wait for all, then append a frame every 20 ms and count deltas."""
    async with websockets.connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        await ws.recv()  # session.created: the upstream is connected
        connected.set()
        await go.wait()

        async def receive() -> None:
            async for message in ws:
                if '"response.output_audio.delta"' in message[:64]:
                    tally.down_received += 1
                    sent = float(json.loads(message)["event_id"][3:])
                    tally.late_ms.append((time.time() - sent) * 1000)

        reader = asyncio.create_task(receive())
        start = time.time()
        for n in range(1, int(seconds / FRAME_S) + 1):
            due = start + n * FRAME_S
            await asyncio.sleep(max(0.0, due - time.time()))
            await ws.send(
                f'{{"type":"input_audio_buffer.append","event_id":"ev_{due:.6f}","audio":"{FRAME}"}}'
            )
            tally.up_sent += 1
        await asyncio.sleep(2.5)  # frames (and tool results) in flight arrive
        reader.cancel()


async def run_level(url: str, upstream: Upstream, sessions: int, seconds: float) -> Tally:
    """`sessions` concurrent sessions for `seconds` of real-time audio; the tally of what arrived."""
    tally = upstream.tally = Tally()
    upstream.seconds = seconds
    go = upstream.go = asyncio.Event()
    ready = [asyncio.Event() for _ in range(sessions)]
    tasks = [asyncio.create_task(client(url, tally, seconds, ready[i], go)) for i in range(sessions)]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 120)
    go.set()
    await asyncio.gather(*tasks)
    return tally


def holds(tally: Tally, late_ms: float) -> bool:
    return tally.complete and tally.percentile(0.99) <= late_ms


async def start_relay(cmd: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    if not line.startswith(SERVE_LINE):
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start: {line!r}")
    return proc, line.split()[3]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def idle_memory(url: str, pid: int, sessions: int) -> float:
    """kB of relay RSS per idle session (open, session.created received, nothing else)."""
    before = rss_kb(pid)
    sockets = []
    for _ in range(sessions):
        ws = await websockets.connect(url, max_size=None, compression=None, open_timeout=60)
        await ws.recv()
        sockets.append(ws)
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    for ws in sockets:
        await ws.close()
    return (after - before) / sessions


def write_config(folder: Path, max_sessions: int) -> Path:
    path = folder / "mcp-voice-load.toml"
    path.write_text(
        f"[servers.testtools]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(TOOL_SERVER))}]\n"
        f"[serve]\nmax_sessions = {max_sessions}\n"
    )
    return path


async def capacity(name: str, url: str, upstream: Upstream, args: argparse.Namespace) -> int:
    """The most sessions that hold, by doubling then bisecting (each level a fresh run)."""
    held, level, failed = 0, args.start, None
    while level <= args.max_sessions:
        tally = await run_level(url, upstream, level, args.seconds)
        ok = holds(tally, args.late_ms)
        report(name, level, tally, ok)
        if not ok:
            failed = level
            break
        held, level = level, level * 2
    if failed is not None:
        low, high = held, failed
        while high - low > max(1, low // 8):
            middle = (low + high) // 2
            tally = await run_level(url, upstream, middle, args.seconds)
            ok = holds(tally, args.late_ms)
            report(name, middle, tally, ok)
            low, high = (middle, high) if ok else (low, middle)
        held = low
    return held


def report(name: str, sessions: int, tally: Tally, ok: bool) -> None:
    lost = (tally.up_sent - tally.up_received) + (tally.down_sent - tally.down_received)
    calls = f" calls {tally.calls} results {tally.results}" if tally.calls else ""
    print(
        f"  {name:5} {sessions:4} sessions: lateness p50 {tally.percentile(0.5):6.1f} ms"
        f" p95 {tally.percentile(0.95):6.1f} p99 {tally.percentile(0.99):7.1f}; frames lost {lost}{calls}"
        f" -> {'holds' if ok else 'falls behind'}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    tally = Tally()
    with_calls = Upstream(tally, call_every_s=args.call_every)
    plain = Upstream(tally, call_every_s=None)
    async with (
        websockets.serve(with_calls.handler, "127.0.0.1", 0, max_size=None, compression=None) as up_calls,
        websockets.serve(plain.handler, "127.0.0.1", 0, max_size=None, compression=None) as up_plain,
    ):
        url_calls = f"ws://127.0.0.1:{up_calls.sockets[0].getsockname()[1]}"
        url_plain = f"ws://127.0.0.1:{up_plain.sockets[0].getsockname()[1]}"
        config = write_config(Path(os.environ.get("TMPDIR", "/tmp")), max(args.idle, args.max_sessions) + 10)
        serve_cmd = [MCP_VOICE, "serve", "--port", "0", "--upstream", url_calls, "--config", str(config)]
        serve_proc, serve_url = await start_relay([*serve_cmd, "--plugins", ""])
        bare_proc, bare_url = await start_relay([sys.executable, str(RELAY_BENCH), "--bare-relay", url_plain])
        try:
            print(
                f"real-time load, {args.seconds:g} s per level, "
                f"holds = no frame lost and p99 <= {args.late_ms:g} ms"
            )
            bare = await capacity("bare", bare_url, plain, args)
            serve = await capacity("serve", serve_url, with_calls, args)
            ratio = serve / max(bare, 1)
            print(f"sessions held: serve {serve}, bare relay {bare}: ratio {ratio:.2f}x (goal >= 1.0x)")
            serve_kb = await idle_memory(serve_url, serve_proc.pid, args.idle)
            bare_kb = await idle_memory(bare_url, bare_proc.pid, args.idle)
            print(
                f"{args.idle} idle sessions: serve {serve_kb:.1f} kB/session, bare {bare_kb:.1f} kB/session"
            )
        finally:
            for proc in (serve_proc, bare_proc):
                proc.terminate()
                await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--start", type=int, default=25)
    parser.add_argument("--max-sessions", type=int, default=800)
    parser.add_argument("--late-ms", type=float, default=100.0)
    parser.add_argument("--call-every", type=float, default=2.0)
    parser.add_argument("--idle", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
