"""The host's tool round trip at the wire, against the raw MCP call of the same tool, in one run.

Three processes, as in production: a fake OpenAI upstream (this file, `--upstream`), a real
`mcp-voice serve` connected to it, and the tool as a stdio MCP server (this file, `--tool-server`).
A client WebSocket opens the session; the fake upstream then plays, N times, a response whose
completed `function_call` item calls the tool, and times from sending that item's
`response.output_item.done` to receiving the host's `function_call_output`. The same tool is
called N times directly over stdio with the mcp SDK's `Client`. Prints p50/p99 and the ratio.

    python bench/wire.py [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import websockets

HERE = Path(__file__).resolve()
MCP_VOICE = Path(sys.executable).with_name("mcp-voice")


# -- the tool server (a subprocess) ------------------------------------------------------------


def tool_server() -> None:
    from mcp.server import MCPServer

    server = MCPServer("bench")

    @server.tool()
    async def echo(text: str) -> str:
        """Echo the text."""
        return text

    server.run()


# -- the fake upstream (a subprocess) ----------------------------------------------------------


async def fake_upstream(calls: int) -> None:
    """Serve one session, play `calls` tool calls, print the timings (ms) as JSON, exit."""
    finished = anyio.Event()
    timings: list[float] = []

    async def session(ws: Any) -> None:
        n = 0

        async def send(**event: Any) -> None:
            nonlocal n
            n += 1
            await ws.send(json.dumps({"event_id": f"ev_{n}", **event}))

        async def next_event(kind: str) -> dict[str, Any]:
            while True:
                event = json.loads(await ws.recv())
                if event["type"] == "session.update":
                    await send(type="session.updated", session={"type": "realtime", **event["session"]})
                elif event["type"] == kind:
                    return event

        def response(rid: str, status: str, output: list[Any]) -> dict[str, Any]:
            return {
                "id": rid,
                "object": "realtime.response",
                "status": status,
                "output": output,
                "conversation_id": "conv_bench",
                "output_modalities": ["text"],
            }

        await send(
            type="session.created", session={"type": "realtime", "id": "sess_bench", "model": "gpt-realtime"}
        )
        for i in range(calls):
            rid, item_id, call_id = f"resp_{i}", f"item_{i}", f"call_{i}"
            item = {
                "id": item_id,
                "type": "function_call",
                "object": "realtime.item",
                "status": "completed",
                "name": "bench__echo",
                "call_id": call_id,
                "arguments": json.dumps({"text": f"hello {i}"}),
            }
            await send(type="response.created", response=response(rid, "in_progress", []))
            await send(
                type="response.output_item.added",
                response_id=rid,
                output_index=0,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            started = time.perf_counter()
            await send(type="response.output_item.done", response_id=rid, output_index=0, item=item)
            create = await next_event("conversation.item.create")
            timings.append((time.perf_counter() - started) * 1000)
            assert create["item"]["call_id"] == call_id and create["item"]["output"] == f"hello {i}", create
            await send(type="conversation.item.done", item=item)
            await send(type="response.done", response=response(rid, "completed", [item]))
            output = {**create["item"], "object": "realtime.item", "status": "completed"}
            await send(type="conversation.item.added", item=output)
            await send(type="conversation.item.done", item=output)
            await next_event("response.create")  # the host's read-back: an empty response frees the floor
            await send(type="response.created", response=response(f"rb_{i}", "in_progress", []))
            await send(type="response.done", response=response(f"rb_{i}", "completed", []))
        finished.set()

    async with websockets.serve(session, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await finished.wait()
    print(json.dumps(timings), flush=True)


# -- the bench ---------------------------------------------------------------------------------


async def read_line(stream: Any) -> str:
    data = b""
    with anyio.fail_after(120):
        while not data.endswith(b"\n"):
            data += await stream.receive(1)
    return data.decode().strip()


async def drain(ws: Any) -> None:
    async for _ in ws:
        pass


async def raw_calls(calls: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=[str(HERE), "--tool-server"])
    timings = []
    async with Client(params) as client:
        await client.call_tool("echo", {"text": "warm-up"})
        for i in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("echo", {"text": f"hello {i}"})
            timings.append((time.perf_counter() - started) * 1000)
            assert not result.is_error
    return timings


async def host_calls(calls: int, folder: Path) -> list[float]:
    config = folder / "mcp-voice.toml"
    command, args = json.dumps(sys.executable), json.dumps([str(HERE), "--tool-server"])
    config.write_text(f"[servers.bench]\ncommand = {command}\nargs = {args}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MCP_VOICE_TOKEN")}
    env["MCP_VOICE_PLUGINS"] = ""
    upstream = await anyio.open_process(
        [sys.executable, str(HERE), "--upstream", "--calls", str(calls)], env=env
    )
    async with upstream:
        port = int(await read_line(upstream.stdout))
        serve = await anyio.open_process(
            [
                str(MCP_VOICE),
                "serve",
                "--port",
                "0",
                "--config",
                str(config),
                "--upstream",
                f"ws://127.0.0.1:{port}/v1/realtime",
            ],
            env=env,
        )
        async with serve:
            line = await read_line(serve.stdout)
            endpoint = line.split(" on ", 1)[1].split(" ", 1)[0]
            async with (
                websockets.connect(f"{endpoint}?model=gpt-realtime", max_size=None) as ws,
                anyio.create_task_group() as tg,
            ):
                tg.start_soon(drain, ws)  # the client reads what it is shown, as a real one does
                with anyio.fail_after(600):
                    report = await read_line(upstream.stdout)
                tg.cancel_scope.cancel()
            serve.terminate()
            await serve.wait()
    return [float(t) for t in json.loads(report)]


def summary(name: str, values: list[float]) -> str:
    cut = statistics.quantiles(values, n=100)
    return f"{name:<44} p50 {statistics.median(values):7.3f} ms   p99 {cut[98]:7.3f} ms"


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        host = await host_calls(calls, Path(folder))
    raw = await raw_calls(calls)
    print(f"{calls} calls of one stdio MCP tool (echo), this machine, one run:")
    print(summary("raw MCP call (mcp SDK Client, stdio)", raw))
    print(summary("host at the wire (function_call -> output)", host))
    p50_host, p50_raw = statistics.median(host), statistics.median(raw)
    print(f"ratio host/raw p50: {p50_host / p50_raw:.2f}x   host overhead p50: {p50_host - p50_raw:+.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tool-server", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.tool_server:
        tool_server()
    elif options.upstream:
        anyio.run(fake_upstream, options.calls)
    else:
        anyio.run(main, options.calls)
