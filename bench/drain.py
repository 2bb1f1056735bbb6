"""Sessions cut by a graceful drain: SIGTERM a real `mcp-voice serve` holding live sessions.

`--sessions` relayed sessions (simulator upstream) each live a random 1 s .. 0.8 x drain_s,
exchanging a `session.update` every 0.5 s, then close themselves; `--long` more outlive drain_s.
SIGTERM comes once all are open. Counted: sessions that ended before they meant to (cut: must be
0 for those within drain_s), the long ones closed at drain_s (1001, with the reason), new sessions
refused during the drain (1013), and how long the process took to exit.

    python bench/drain.py [--sessions 40] [--long 3] [--drain-s 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import websockets

ROOT = Path(__file__).resolve().parents[1]
MCP_VOICE = str(Path(sys.executable).with_name("mcp-voice"))
LINE = re.compile(rb"ws://127\.0\.0\.1:(\d+)/v1/realtime")


class Opened:
    """Counts sessions that got `session.created`; `all` is set once `expected` have."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.all = anyio.Event()

    def add(self) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.all.set()


async def session(url: str, life_s: float, opened: Opened, outcome: dict[str, int]) -> None:
    try:
        async with websockets.connect(url, open_timeout=30) as ws:
            json.loads(await ws.recv())  # session.created
            opened.add()
            end = time.monotonic() + life_s
            while time.monotonic() < end:
                await ws.send(json.dumps({"type": "session.update", "session": {"instructions": "x"}}))
                while json.loads(await ws.recv())["type"] != "session.updated":
                    pass
                await anyio.sleep(0.5)
        outcome["finished"] += 1
    except websockets.ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        outcome[f"closed {code}"] = outcome.get(f"closed {code}", 0) + 1


async def main(count: int, long: int, drain_s: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "mcp-voice.toml"
        config.write_text(f"[serve]\ndrain_s = {drain_s}\n")
        env = {**os.environ, "MCP_VOICE_PLUGINS": "", "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
        env.pop("OPENAI_API_KEY", None)
        args = [MCP_VOICE, "serve", "--port", "0", "--upstream", "sim", "--config", str(config)]
        process = await anyio.open_process(args, env=env, stderr=subprocess.DEVNULL)
        assert process.stdout is not None
        line = b""
        with anyio.fail_after(60):
            while not line.endswith(b"\n"):
                line += await process.stdout.receive(1)
        match = LINE.search(line)
        assert match, line
        url = f"ws://127.0.0.1:{int(match.group(1))}/v1/realtime"
        short: dict[str, int] = {"finished": 0}
        longer: dict[str, int] = {"finished": 0}
        opened = Opened(count + long)
        refused = 0
        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(session, url, random.uniform(1.0, 0.8 * drain_s), opened, short)
            for _ in range(long):
                tg.start_soon(session, url, drain_s * 3, opened, longer)
            with anyio.fail_after(60):
                await opened.all.wait()
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await anyio.sleep(0.5)
            for _ in range(5):  # new sessions while draining
                async with websockets.connect(url) as ws:
                    try:
                        while True:
                            await ws.recv()
                    except websockets.ConnectionClosed as exc:
                        refused += exc.rcvd is not None and exc.rcvd.code == 1013
        with anyio.fail_after(drain_s + 30):
            code = await process.wait()
        exited = time.monotonic() - signalled
    cut = count - short["finished"]
    print(f"drain_s {drain_s:g}: {count} sessions ending within it, {long} outliving it")
    print(f"  cut within drain_s: {cut} (target 0); outcomes {short}")
    print(f"  outliving drain_s: {longer} (expected: closed 1001 at drain_s)")
    print(f"  new sessions refused with 1013 while draining: {refused}/5")
    print(f"  process exited {code} after {exited:.1f} s (drain_s {drain_s:g})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--long", type=int, default=3)
    parser.add_argument("--drain-s", type=float, default=10.0)
    options = parser.parse_args()
    anyio.run(main, options.sessions, options.long, options.drain_s)
