"""OpenAI SIP calls through serve: how long a ringing call waits, and what a tool call costs on the sideband.

serve runs in this process on loopback against the tests' fake OpenAI (tests/serve/fake_openai.py).
Figures, p50/p99:

- answer: the signed webhook sent -> the fake's `accept` request (the decision and the REST call);
- attach: the webhook sent -> the host's first `session.update` on the sideband (the caller's
  first words can use tools from then on);
- tool call: the model's completed `function_call` sent on the sideband -> its
  `function_call_output` back, against the raw `registry.call` of the same tool in the same run
  (the ratio is the sideband's cost: two WebSocket hops, the host, JSON).

    python bench/sideband.py [--calls 30] [--tools 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import anyio
from mcp.server import MCPServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_voice.serve.app import create_app
from mcp_voice.serve.openai_calls import CallsSettings
from mcp_voice.serve.openai_calls.webhooks import secret_key
from mcp_voice.serve.run import bind_socket, running
from mcp_voice.serve.settings import ServeSettings
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from tests.serve.fake_openai import API_KEY, SECRET, fake_openai

server = MCPServer("bench", log_level="WARNING")


@server.tool()
async def echo(text: str) -> str:
    """Echo the text."""
    return text


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def show(name: str, values: list[float]) -> None:
    p50, p99 = statistics.median(values), pct(values, 0.99)
    print(f"{name:<28} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   (n={len(values)})")


async def main(calls: int, tool_calls: int) -> None:
    async with fake_openai() as fake, ToolRegistry([ServerSpec(name="bench", target=server)]) as registry:
        settings = ServeSettings(
            upstream="sim",
            calls=CallsSettings(
                webhook_key=secret_key(SECRET),
                api_key=API_KEY,
                rest_base=fake.rest_base,
                ws_base=fake.ws_base,
            ),
        )
        sock = bind_socket("127.0.0.1", 0)
        async with running(create_app(registry, settings), sock):
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            answer, attach = [], []
            for n in range(calls):
                call_id = f"rtc_bench{n}"
                start = time.perf_counter()
                await fake.ring(url, call_id)
                await fake.wait_request("accept", n + 1)
                answer.append((time.perf_counter() - start) * 1000)
                call = fake.calls[call_id]
                await call.next("session.update")
                attach.append((time.perf_counter() - start) * 1000)
                if n < calls - 1:
                    await call.end()

            raw, sideband = [], []
            for _ in range(20):  # warm up both paths
                await registry.call("bench__echo", {"text": "hi"})
            for n in range(tool_calls):
                start = time.perf_counter()
                await registry.call("bench__echo", {"text": f"hi {n}"})
                raw.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                item = await call.call_tool("bench__echo", {"text": f"hi {n}"})
                await call.output_for(item["call_id"])
                sideband.append((time.perf_counter() - start) * 1000)
                await call.next("response.create")
            await call.end()

    show("answer (webhook -> accept)", answer)
    show("attach (webhook -> tools)", attach)
    show("tool call, raw registry", raw)
    show("tool call over sideband", sideband)
    ratio = statistics.median(sideband) / statistics.median(raw)
    extra = statistics.median(sideband) - statistics.median(raw)
    print(f"sideband / raw tool call p50: {ratio:.1f}x  (+{extra:.2f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--tools", type=int, default=200)
    args = parser.parse_args()
    anyio.run(main, args.calls, args.tools)
