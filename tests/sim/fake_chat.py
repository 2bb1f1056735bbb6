"""A wire-level fake of the Chat Completions API: a real HTTP server on loopback that streams SSE.

Each chunk it sends is first checked against the openai SDK's `ChatCompletionChunk`, so what the
simulator parses is what a real server (Ollama, llama.cpp, vLLM) sends. Tests script its answers
and read back the requests it got.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from openai.types.chat import ChatCompletionChunk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Answer:
    """One scripted answer: text pieces and/or tool calls, or an HTTP status; `hang_s` before the end."""

    text: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(name, arguments); the arguments are streamed in three fragments."""
    status: int = 200
    hang_s: float = 0.0
    delay_s: float = 0.0
    """Before the first chunk (the model's time to first token)."""


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    ChatCompletionChunk.model_validate(body)  # the real API's shape, or the test is wrong
    return body


def chunks(answer: Answer) -> list[dict[str, Any]]:
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in answer.text]
    for index, (name, arguments) in enumerate(answer.calls):
        third = max(1, len(arguments) // 3)
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_fake{index}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for at in range(0, len(arguments), third):
            fragment = {"index": index, "function": {"arguments": arguments[at : at + third]}}
            out.append(chunk({"tool_calls": [fragment]}))
    out.append(chunk({}, "tool_calls" if answer.calls else "stop"))
    return out


@dataclass
class FakeChat:
    answers: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    stream_closed: anyio.Event = field(default_factory=anyio.Event)

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        answer = self.answers.pop(0) if self.answers else Answer(text=["Nothing ", "scripted."])
        if answer.status != 200:
            return JSONResponse({"error": {"message": "the fake model is down"}}, status_code=answer.status)
        assert body.get("stream") is True

        async def events() -> AsyncIterator[bytes]:
            try:
                await anyio.sleep(answer.delay_s)
                for n, piece in enumerate(chunks(answer)):
                    if n == len(chunks(answer)) - 1 and answer.hang_s:
                        await anyio.sleep(answer.hang_s)
                    yield f"data: {json.dumps(piece)}\n\n".encode()
                    await anyio.sleep(0.005)
                yield b"data: [DONE]\n\n"
            finally:
                self.stream_closed.set()

        return StreamingResponse(events(), media_type="text/event-stream")


@asynccontextmanager
async def fake_chat(*answers: Answer) -> AsyncIterator[FakeChat]:
    """Serve the fake on 127.0.0.1 (a free port) for the life of the block; `url` is its API base."""
    fake = FakeChat(list(answers))
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        for _ in range(1000):  # uvicorn has no "started" event to wait on
            if server.started:
                break
            await anyio.sleep(0.01)
        try:
            yield fake
        finally:
            server.should_exit = True
            server.force_exit = True
