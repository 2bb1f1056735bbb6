"""Streamable HTTP servers reached by URL, with the spec's headers."""

from __future__ import annotations

import json

import anyio
import pytest

from mcp_voice.tools import ServerSpec, ToolRegistry

pytestmark = pytest.mark.anyio


async def test_call_over_streamable_http_with_headers(http_sample: str) -> None:
    spec = ServerSpec("remote", http_sample, headers={"Authorization": "Bearer sekrit"})
    async with ToolRegistry([spec]) as registry:
        assert registry.errors == {}
        result = await registry.call("remote__add", {"a": 20, "b": 22})
        assert result.output == "42"
        with anyio.fail_after(5):
            slow = await registry.call("remote__slow", {"seconds": 30}, timeout_s=0.3)
        assert json.loads(slow.output)["error"]["kind"] == "timeout"


async def test_missing_headers_are_a_start_error(http_sample: str) -> None:
    async with ToolRegistry([ServerSpec("remote", http_sample)]) as registry:
        assert "remote" in registry.errors
        assert registry.tools() == []


async def test_add_server_by_url_at_runtime(http_sample: str) -> None:
    async with ToolRegistry([]) as registry:
        tools = await registry.add_server(
            ServerSpec("late", http_sample, headers={"Authorization": "Bearer sekrit"})
        )
        assert "late__echo" in [t.name for t in tools]
        result = await registry.call("late__echo", {"text": "over http"})
        assert result.output == "over http"
