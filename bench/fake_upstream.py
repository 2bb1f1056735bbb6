"""A scripted GA Realtime upstream in its own process, timing tool round trips at the wire.

For each connection it plays the model: `session.created`, answers `session.update`, then makes
`--calls` function calls of the session's tool whose name ends in `echo` (response.created,
output_item.added, function_call_arguments.done, output_item.done with status completed,
response.done) and times each one from the moment the completed item is sent to the moment the
`function_call_output` for its call_id arrives. Any `response.create` gets an empty response at
once. When done it prints one JSON line to stdout: `{"label": ..., "ms": [...]}` (the label is
the connection's `?label=` query value).

    python bench/fake_upstream.py --calls 300     # prints "port N", then one line per session
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import websockets

SETTLE_S = 0.3
"""After the last session.update, wait this long for more before starting (clients send several)."""


class Model:
    def __init__(self, ws: websockets.ServerConnection) -> None:
        self.ws = ws
        self.n = 0
        self.tools: list[dict[str, Any]] = []
        self.outputs: asyncio.Queue[str] = asyncio.Queue()
        self.updated = asyncio.Event()

    def next_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    async def send(self, **event: Any) -> None:
        await self.ws.send(json.dumps({"event_id": self.next_id("ev"), **event}))

    async def reader(self) -> None:
        async for message in self.ws:
            event = json.loads(message)
            kind = event.get("type")
            if kind == "session.update":
                session = event.get("session", {})
                if "tools" in session:
                    self.tools = session["tools"]
                await self.send(type="session.updated", session={"type": "realtime", **session})
                self.updated.set()
            elif kind == "response.create":
                rid = self.next_id("resp")
                response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
                await self.send(type="response.created", response=response)
                await self.send(type="response.done", response={**response, "status": "completed"})
            elif kind == "conversation.item.create":
                item = event.get("item", {})
                if item.get("type") == "function_call_output":
                    self.outputs.put_nowait(item.get("call_id", ""))

    async def call(self, name: str, arguments: str) -> float:
        rid, call_id, item_id = self.next_id("resp"), self.next_id("call"), self.next_id("item")
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
        item = {"id": item_id, "type": "function_call", "status": "in_progress", "call_id": call_id}
        item |= {"name": name, "arguments": ""}
        done = {**item, "status": "completed", "arguments": arguments}
        await self.send(type="response.created", response=response)
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
        start = time.perf_counter()
        await self.send(type="response.output_item.done", response_id=rid, output_index=0, item=done)
        await self.send(type="response.done", response={**response, "status": "completed", "output": [done]})
        while await asyncio.wait_for(self.outputs.get(), 60) != call_id:
            pass
        return (time.perf_counter() - start) * 1000


async def session(ws: websockets.ServerConnection, calls: int) -> None:
    assert ws.request is not None
    label = parse_qs(urlsplit(ws.request.path).query).get("label", ["?"])[0]
    model = Model(ws)
    reader = asyncio.create_task(model.reader())
    await model.send(type="session.created", session={"type": "realtime", "id": "sess_fake"})
    try:
        while True:  # wait until the tool list has settled
            model.updated.clear()
            try:
                await asyncio.wait_for(model.updated.wait(), SETTLE_S)
            except TimeoutError:
                if any(str(t.get("name", "")).endswith("echo") for t in model.tools):
                    break
        name = next(t["name"] for t in model.tools if str(t.get("name", "")).endswith("echo"))
        samples = [await model.call(name, json.dumps({"text": f"hello {i}"})) for i in range(calls)]
        print(json.dumps({"label": label, "ms": samples}), flush=True)
    finally:
        reader.cancel()


async def main(calls: int) -> None:
    async def handler(ws: websockets.ServerConnection) -> None:
        await session(ws, calls)
        await ws.wait_closed()

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
