"""Choosing an upstream: OpenAI, a ws(s):// URL, the embedded simulator, or the local voice.

This sits above both `protocol` (the WebSocket transport) and `sim` (the embedded servers), so
the protocol layer knows no simulator. Every target is reached over a real WebSocket: "sim" and
"local" start a simulator on 127.0.0.1:0 in this event loop for the life of the block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from mcp_voice.protocol.upstream import (
    UpstreamError,
    WebSocketUpstream,
    connect_upstream,
    resolve_target,
    with_model,
)
from mcp_voice.sim.config import SimConfig
from mcp_voice.sim.server import run_simulator

EMBEDDED = ("sim", "local")
"""Targets served in-process: the scripted simulator, and the simulator answering with a chat model."""

__all__ = ["EMBEDDED", "UpstreamError", "open_upstream"]


@asynccontextmanager
async def open_upstream(
    target: str,
    *,
    model: str,
    api_key: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    sim_config: SimConfig | None = None,
) -> AsyncIterator[WebSocketUpstream]:
    """Connect to `target` ("openai", "sim", "local", or a ws(s):// URL) and yield a GA `EventChannel`.

    "local" needs `sim_config.llm` (the chat model that answers); "sim" always runs the script.
    """
    extra = dict(extra_headers or {})
    if target in EMBEDDED:
        config = sim_config or SimConfig()
        if target == "sim":
            config = dataclasses.replace(config, llm=None)
        elif config.llm is None:
            raise UpstreamError(
                "upstream 'local' needs a chat model: SimConfig(llm=LlmSettings(url, model)) "
                "(serve: --llm-url URL --llm-model NAME)"
            )
        async with run_simulator(config=config) as sim:
            headers = {**extra, **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
            async with connect_upstream(with_model(sim.url, model), headers) as channel:
                yield channel
        return
    url, headers = resolve_target(target, model, api_key)
    async with connect_upstream(url, {**extra, **headers}) as channel:
        yield channel
