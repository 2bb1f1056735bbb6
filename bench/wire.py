"""Tool round trip at the wire: mcp-voice serve vs the raw MCP call vs openai-agents' RealtimeSession.

One fake upstream (bench/fake_upstream.py) runs in its own process and times, for each session,
"completed function_call item sent" -> "function_call_output received". The same echo tool
(bench/tools.py) is reached three ways in the same run:

- serve's session host with the tool in-process, and over stdio (serve runs in this process,
  the way `create_app` embeds it; a client WebSocket holds the session open);
- openai-agents' `RealtimeSession` with the same tool, over stdio through its `MCPServerStdio`
  and in-process through a minimal `agents.mcp.MCPServer` over `mcp.Client`;
- the raw MCP `Client.call_tool` in-process and over stdio: the floor. Host overhead is the
  round trip minus this floor.

    python bench/wire.py [--calls 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import websockets
from anyio.abc import Process
from mcp import Client
from tools import build_server, percentile, stdio_params, timed

from mcp_voice.serve.app import create_app
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.session.host import HostSettings
from mcp_voice.tools import ServerSpec, ToolRegistry

HERE = Path(__file__).resolve().parent


class FakeUpstream:
    def __init__(self, process: Process) -> None:
        self.process = process
        self.buffer = b""
        self.port = 0

    async def line(self) -> str:
        assert self.process.stdout is not None
        with anyio.fail_after(300):
            while b"\n" not in self.buffer:
                self.buffer += await self.process.stdout.receive()
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def url(self, label: str) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime?label={label}&model=gpt-realtime"

    async def samples(self, label: str) -> list[float]:
        while True:
            record = json.loads(await self.line())
            if record["label"] == label:
                return [float(ms) for ms in record["ms"]]


async def drain(ws: websockets.ClientConnection) -> None:
    """Read the client side so the session never waits on a full socket."""
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


async def ours(fake: FakeUpstream, label: str, target: object) -> list[float]:
    async with ToolRegistry([ServerSpec("bench", target)]) as registry:  # type: ignore[arg-type]
        settings = ServeSettings(upstream=fake.url(label), host=HostSettings(progress_updates=False))
        sock = bind_socket("127.0.0.1", 0)
        async with running(create_app(registry, settings), sock):
            port = sock.getsockname()[1]
            async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime", max_size=None) as ws:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(drain, ws)
                    samples = await fake.samples(label)
                    tg.cancel_scope.cancel()
    return samples


def in_process_mcp(target: object) -> Any:
    """openai-agents' MCPServer over an in-process `mcp.Client` (it ships stdio/HTTP transports only)."""
    from agents.mcp import MCPServer

    class InProcessMCP(MCPServer):
        def __init__(self) -> None:
            super().__init__()
            self._stack = AsyncExitStack()
            self._client: Any = None

        @property
        def name(self) -> str:
            return "bench"

        async def connect(self) -> None:
            self._client = await self._stack.enter_async_context(Client(target))  # type: ignore[arg-type]

        async def cleanup(self) -> None:
            await self._stack.aclose()

        async def __aenter__(self) -> InProcessMCP:
            await self.connect()
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.cleanup()

        async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[Any]:
            return list((await self._client.list_tools()).tools)

        async def call_tool(self, tool_name: str, arguments: Any, meta: Any = None) -> Any:
            return await self._client.call_tool(tool_name, arguments or {})

        async def list_prompts(self) -> Any:
            return await self._client.list_prompts()

        async def get_prompt(self, name: str, arguments: Any = None) -> Any:
            return await self._client.get_prompt(name, arguments)

    return InProcessMCP()


async def agents(fake: FakeUpstream, label: str, in_process: bool) -> list[float]:
    from agents.mcp import MCPServerStdio
    from agents.realtime import RealtimeAgent, RealtimeRunner

    params = stdio_params()
    if in_process:
        mcp_server = in_process_mcp(build_server())
    else:
        mcp_server = MCPServerStdio(params={"command": params.command, "args": list(params.args)})
    async with mcp_server as server:
        agent = RealtimeAgent(name="bench", instructions="Use the tool.", mcp_servers=[server])
        runner = RealtimeRunner(starting_agent=agent, config={"tracing_disabled": True})
        session = await runner.run(model_config={"url": fake.url(label), "api_key": "bench"})
        async with session:

            async def consume() -> None:
                async for _ in session:
                    pass

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                samples = await fake.samples(label)
                tg.cancel_scope.cancel()
    return samples


async def raw(target: object, calls: int) -> list[float]:
    samples: list[float] = []
    async with Client(target) as client:  # type: ignore[arg-type]
        args = {"text": "hello"}
        await timed(lambda: client.call_tool("echo", args), 50, [])
        await timed(lambda: client.call_tool("echo", args), calls, samples)
    return samples


async def main(calls: int, rounds: int) -> dict[str, Any]:
    for noisy in ("mcp_voice", "websockets"):  # openai-agents turns INFO on for everyone
        logging.getLogger(noisy).setLevel(logging.WARNING)
    command = [sys.executable, str(HERE / "fake_upstream.py"), "--calls", str(calls)]
    results: dict[str, list[float]] = {}
    async with await anyio.open_process(command, stdout=subprocess.PIPE) as process:
        fake = FakeUpstream(process)
        fake.port = int((await fake.line()).split()[1])
        try:
            for _ in range(rounds):  # alternate so load drift hits every path alike
                for label, run in (
                    ("raw_inprocess", lambda: raw(build_server(), calls)),
                    ("raw_stdio", lambda: raw(stdio_params(), calls)),
                    ("ours_inprocess", lambda: ours(fake, "ours_inprocess", build_server())),
                    ("ours_stdio", lambda: ours(fake, "ours_stdio", stdio_params())),
                    ("agents_inprocess", lambda: agents(fake, "agents_inprocess", True)),
                    ("agents_stdio", lambda: agents(fake, "agents_stdio", False)),
                ):
                    results.setdefault(label, []).extend((await run())[5:])  # first calls warm up
        finally:
            process.terminate()
    p50 = {label: statistics.median(ms) for label, ms in results.items()}
    p99 = {label: percentile(ms, 0.99) for label, ms in results.items()}
    figures: dict[str, Any] = {"p50": p50, "p99": p99, "n": {k: len(v) for k, v in results.items()}}
    figures["overhead_inprocess"] = p50["ours_inprocess"] - p50["raw_inprocess"]
    figures["overhead_stdio"] = p50["ours_stdio"] - p50["raw_stdio"]
    figures["ours_vs_agents"] = p50["ours_stdio"] / p50["agents_stdio"]
    figures["ours_vs_agents_inprocess"] = p50["ours_inprocess"] / p50["agents_inprocess"]
    for label in results:
        n = len(results[label])
        print(f"{label:<15} round trip p50 {p50[label]:7.3f} ms   p99 {p99[label]:7.3f} ms   (n={n})")
    print(f"host overhead at the wire, in-process: {figures['overhead_inprocess']:+.3f} ms (p50)")
    print(f"host overhead at the wire, stdio:      {figures['overhead_stdio']:+.3f} ms (p50)")
    print(f"ours / openai-agents (stdio tool):     {figures['ours_vs_agents']:.2f}x (goal <= 0.5x)")
    print(
        f"ours / openai-agents (in-process tool): {figures['ours_vs_agents_inprocess']:.2f}x (goal <= 0.5x)"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main, args.calls, args.rounds)
