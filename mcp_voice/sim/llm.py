"""A streaming client of any OpenAI-compatible Chat Completions API (Ollama, llama.cpp's server,
vLLM, LM Studio): the brain of the `local` upstream.

`stream_chat` yields text deltas as they arrive, then one `Call` per tool call the model made
(its `tool_calls` deltas put together). Anything wrong (unreachable, an HTTP error, a broken
stream, an `error` chunk) is an `LlmError` with a sentence saying what, never a silent stop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import httpx2

from mcp_voice.sim.config import LlmSettings
from mcp_voice.sim.policy import Call

ERROR_BODY_CHARS = 300


class LlmError(Exception):
    """The chat model could not answer; the message says why (no key in it)."""


def chat_url(url: str) -> str:
    """The `/chat/completions` URL under an API base (a full one is kept as it is)."""
    base = url.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def _body(
    settings: LlmSettings,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    tool_choice: Any,
    max_tokens: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": settings.model, "messages": list(messages), "stream": True}
    if tools:
        body["tools"] = list(tools)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


async def stream_chat(
    settings: LlmSettings,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: Any = None,
    max_tokens: int | None = None,
) -> AsyncGenerator[str | Call, None]:
    """Text deltas as the model streams them, then its tool calls (each complete)."""
    url = chat_url(settings.url)
    headers = {"Accept": "text/event-stream"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    calls: dict[int, dict[str, str]] = {}
    try:
        async with (
            httpx2.AsyncClient(timeout=httpx2.Timeout(settings.timeout_s)) as client,
            client.stream(
                "POST", url, json=_body(settings, messages, tools, tool_choice, max_tokens), headers=headers
            ) as reply,
        ):
            if reply.status_code != 200:
                text = (await reply.aread())[:ERROR_BODY_CHARS].decode(errors="replace").strip()
                raise LlmError(f"the chat model at {url} answered HTTP {reply.status_code}: {text}")
            async for line in reply.aiter_lines():
                if not line.startswith("data:"):
                    continue  # SSE comments, event names, keep-alives
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                for piece in _pieces(_chunk(data, url), calls):
                    yield piece
    except httpx2.HTTPError as exc:
        raise LlmError(f"cannot reach the chat model at {url}: {type(exc).__name__}: {exc}") from None
    for index in sorted(calls):
        call = calls[index]
        if call["name"]:
            yield Call(call["name"], call["arguments"] or "{}")


def _chunk(data: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise LlmError(f"the chat model at {url} sent a broken stream chunk: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise LlmError(f"the chat model at {url} sent a chunk that is not an object")
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LlmError(f"the chat model at {url} failed: {message}")
    return chunk


def _pieces(chunk: Mapping[str, Any], calls: dict[int, dict[str, str]]) -> list[str]:
    """The text in one `chat.completion.chunk`; its tool-call fragments go into `calls`."""
    texts = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            texts.append(str(delta["content"]))
        for fragment in delta.get("tool_calls") or ():
            slot = calls.setdefault(int(fragment.get("index") or 0), {"name": "", "arguments": ""})
            function = fragment.get("function") or {}
            slot["name"] += function.get("name") or ""
            slot["arguments"] += function.get("arguments") or ""
    return texts
