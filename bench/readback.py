"""Read-back delay for a client that never asks for one (the openai Python SDK loop in the README).

The host's read-back of a session's first host call now waits `readback_wait_s` for the client's
own `response.create` (docs/session.md, "One read-back per call"). A client that never sends one
pays that wait once per session. This bench measures it at the wire: for each session (a fresh
connection, so every call is a session's first call, the worst case) and then for later calls of
one session, the time from the client's `response.create` to the spoken result's
`response.output_text.done`, against two `mcp-voice serve` processes on the simulator in the
same run: the baseline (another checkout given by --baseline, e.g. main, or this one with
`readback_wait_s = 0`) and this checkout with its defaults. Also counts responses per host call
until the session is quiet for 3 s.

    python bench/readback.py [--sessions 40] [--later 20] [--baseline /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from openai import AsyncOpenAI

HERE = Path(__file__).resolve().parents[1]
TOOL_SERVER = HERE / "tests" / "serve" / "tool_server.py"
HOST_TEXT = "testtools__lookup city=Paris"
SLOW_TEXT = "testtools__slow_report topic=x"


@asynccontextmanager
async def serve(code: Path, extra: str) -> AsyncIterator[str]:
    """`mcp-voice serve` on the simulator, running the code in `code`; yields its ws base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "mcp-voice.toml"
        config.write_text(
            f"[servers.testtools]\ncommand = {json.dumps(sys.executable)}\n"
            f'args = [{json.dumps(str(TOOL_SERVER))}]\nlong_running = ["slow_report"]\n{extra}'
        )
        env = {**os.environ, "MCP_VOICE_PLUGINS": "", "PYTHONPATH": f"{code}:{code / 'plugins'}"}
        env.pop("OPENAI_API_KEY", None)
        command = [
            sys.executable,
            "-c",
            "from mcp_voice.cli import main; main()",
            "serve",
            "--port",
            "0",
            "--upstream",
            "sim",
        ]
        async with await anyio.open_process([*command, "--config", str(config)], env=env) as process:
            assert process.stdout is not None
            line = (await process.stdout.receive()).decode().splitlines()[0]
            port = line.split("127.0.0.1:", 1)[1].split("/", 1)[0]
            try:
                yield f"ws://127.0.0.1:{port}/v1"
            finally:
                process.terminate()


async def turn(conn: Any, text: str, reply: str) -> float:
    """Seconds from the client's response.create to the text containing `reply`."""
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    started = time.perf_counter()
    await conn.response.create()
    async for event in conn:
        if event.type == "response.output_text.done" and reply in event.text:
            return time.perf_counter() - started
    raise RuntimeError("the connection ended")


async def count_until_quiet(conn: Any, text: str, reply: str) -> int:
    """Responses one turn causes, counted until 3 s without an event."""
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await conn.response.create()
    created = 0
    while True:
        with anyio.move_on_after(3.0) as quiet:
            event = await conn.recv()
            created += event.type == "response.created"
        if quiet.cancelled_caught:
            return created


async def measure(url: str, sessions: int, later: int) -> dict[str, Any]:
    client = AsyncOpenAI(api_key="client-key", websocket_base_url=url)
    first: list[float] = []
    for _ in range(sessions):
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            first.append(await turn(conn, HOST_TEXT, "Tool result"))
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await turn(conn, HOST_TEXT, "Tool result")
        rest = [await turn(conn, HOST_TEXT, "Tool result") for _ in range(later)]
        sync_count = await count_until_quiet(conn, HOST_TEXT, "Tool result")
        slow_count = await count_until_quiet(conn, SLOW_TEXT, "report on")
    return {"first": first, "later": rest, "sync_responses": sync_count, "slow_responses": slow_count}


def p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def main(sessions: int, later: int, baseline: Path | None) -> None:
    runs = {}
    base_code, base_extra = (baseline, "") if baseline else (HERE, "[session]\nreadback_wait_s = 0\n")
    for name, code, extra in (("before", base_code, base_extra), ("after", HERE, "")):
        async with serve(code, extra) as url:
            runs[name] = await measure(url, sessions, later)
    before, after = runs["before"], runs["after"]
    print(f"baseline: {baseline or 'this checkout, readback_wait_s = 0'}")
    for key, label in (("first", "first call of a session"), ("later", "later calls")):
        b, a = p50_ms(before[key]), p50_ms(after[key])
        print(f"{label:>24}: p50 before {b:6.1f} ms, after {a:6.1f} ms, +{a - b:5.1f} ms ({a / b:.2f}x)")
    for key in ("sync_responses", "slow_responses"):
        print(f"{key:>24}: before {before[key]}, after {after[key]} (until 3 s of quiet)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--later", type=int, default=20)
    parser.add_argument("--baseline", type=Path, default=None)
    args = parser.parse_args()
    anyio.run(main, args.sessions, args.later, args.baseline)
