"""Session-host overhead on a tool call, and the delay before a late result is injected.

The host runs over `channel_pair()`s with a scripted upstream (this file plays the model) and an
in-process MCP server. Figures, p50/p99 over many calls:

- call overhead: completed `function_call` item sent to the host -> its `function_call_output`
  upstream, minus the raw `registry.call` of the same tool measured in the same run
  (target <= 0.5 ms p50);
- injection delay: a long-running call finishes while a response is active; from that response's
  `response.done` to the host's `response.create` for the result (target <= 1 ms).

    python bench/host.py [--calls 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import anyio
from mcp.server import MCPServer

from mcp_voice.channels import channel_pair
from mcp_voice.session.host import HostSettings, SessionHost
from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec, ToolEvent

server = MCPServer("bench")
release = anyio.Event()


@server.tool()
async def echo(text: str) -> str:
    """Echo the text."""
    return text


@server.tool()
async def job(n: int) -> str:
    """A long-running job that finishes when the bench says so."""
    await release.wait()
    return f"job {n} done"


class Model:
    """The scripted upstream: answers session.update and response.create like the real service."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.n = 0
        self.active: str | None = None

    def next_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    async def send(self, **event: Any) -> None:
        await self.channel.send({"event_id": self.next_id("ev"), **event})

    async def start_response(self) -> str:
        rid = self.next_id("resp")
        self.active = rid
        await self.send(type="response.created", response=_response(rid, "in_progress", []))
        return rid

    async def finish_response(self, output: list[dict[str, Any]] | None = None) -> None:
        assert self.active is not None
        rid, self.active = self.active, None
        await self.send(type="response.done", response=_response(rid, "completed", output or []))

    async def call(self, name: str, arguments: str) -> str:
        """The model calls a function: item added, arguments done, item done (completed), response done."""
        rid = await self.start_response()
        call_id, item_id = self.next_id("call"), self.next_id("item")
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        }
        await self.send(type="response.output_item.added", response_id=rid, output_index=0, item=item)
        await self.send(
            type="response.function_call_arguments.done",
            response_id=rid,
            item_id=item_id,
            output_index=0,
            call_id=call_id,
            name=name,
            arguments=arguments,
        )
        done = {**item, "status": "completed", "arguments": arguments}
        await self.send(type="response.output_item.done", response_id=rid, output_index=0, item=done)
        await self.finish_response([done])
        return call_id

    async def until(self, kind: str, **match: Any) -> dict[str, Any]:
        """Receive until an event of `kind` (answering protocol chores on the way)."""
        while True:
            event = await self.channel.receive()
            assert isinstance(event, dict)
            if event["type"] == "session.update":
                await self.send(
                    type="session.updated", session={"type": "realtime", **event.get("session", {})}
                )
            elif event["type"] == "response.create" and kind != "response.create":
                await self.start_response()
                await self.finish_response()
            if event["type"] == kind and all(_get(event, k) == v for k, v in match.items()):
                return event


def _get(event: dict[str, Any], path: str) -> Any:
    for key in path.split("__"):
        event = event.get(key, {}) if isinstance(event, dict) else {}
    return event


def _response(rid: str, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": rid, "object": "realtime.response", "status": status, "output": output}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


async def main(calls: int) -> dict[str, float]:
    global release
    finished = anyio.Event()

    def on_event(event: ToolEvent) -> None:
        if event.kind == "finished" and event.tool == "bench__job":
            finished.set()

    spec = ServerSpec(name="bench", target=server, long_running=("job",))
    async with ToolRegistry([spec], on_event=on_event) as registry:
        raw = []
        for i in range(calls):
            start = time.perf_counter()
            await registry.call("bench__echo", {"text": f"hi {i}"})
            raw.append(time.perf_counter() - start)

        host_side, upstream = channel_pair()
        client_side, _client = channel_pair()
        model = Model(upstream)
        hosted, injection = [], []
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                SessionHost(registry, host_side, client_side, HostSettings(progress_updates=False)).run
            )
            await model.send(type="session.created", session={"type": "realtime", "id": "sess_bench"})
            for i in range(calls):
                start = time.perf_counter()
                call_id = await model.call("bench__echo", f'{{"text": "hi {i}"}}')
                await model.until("conversation.item.create", item__call_id=call_id)
                hosted.append(time.perf_counter() - start)
                await model.until("response.create")
                await model.start_response()
                await model.finish_response()

            for i in range(max(30, calls // 5)):
                release, finished = anyio.Event(), anyio.Event()
                await model.call("bench__job", f'{{"n": {i}}}')
                await model.until("response.create")  # the placeholder's reply: keep it active
                await model.start_response()
                release.set()
                await finished.wait()
                await anyio.wait_all_tasks_blocked()
                start = time.perf_counter()
                await model.finish_response()
                await model.until("response.create")
                injection.append(time.perf_counter() - start)
                await model.start_response()
                await model.finish_response()
            tg.cancel_scope.cancel()

    ms = 1000
    raw_p50, host_p50 = statistics.median(raw) * ms, statistics.median(hosted) * ms
    print(f"raw registry.call      p50 {raw_p50:.3f} ms   p99 {pct(raw, 0.99) * ms:.3f} ms   (n={len(raw)})")
    print(f"via host               p50 {host_p50:.3f} ms   p99 {pct(hosted, 0.99) * ms:.3f} ms")
    print(f"host overhead          p50 {host_p50 - raw_p50:.3f} ms   (target <= 0.5 ms)")
    inj50, inj99 = statistics.median(injection) * ms, pct(injection, 0.99) * ms
    print(
        f"injection delay        p50 {inj50:.3f} ms   p99 {inj99:.3f} ms   "
        f"(target <= 1 ms, n={len(injection)})"
    )
    return {"injection_p50": inj50, "injection_p99": inj99, "injection_n": len(injection)}


if __name__ == "__main__":
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--calls", type=int, default=300)
    anyio.run(main, parser.parse_args().calls)
