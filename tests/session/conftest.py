"""Fixtures: a real ToolRegistry over small in-process MCP servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from mcp_voice.tools.registry import ToolRegistry
from mcp_voice.tools.spec import ServerSpec
from tests.session.servers import Probe, build_extra_server, build_voice_server


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def registry(probe: Probe) -> AsyncIterator[ToolRegistry]:
    specs = [
        ServerSpec(name="voice", target=build_voice_server(probe)),
        ServerSpec(name="extra", target=build_extra_server()),
    ]
    async with ToolRegistry(specs) as registry:
        yield registry


SAMPLE_HTTP = Path(__file__).resolve().parents[1] / "tools" / "servers" / "http_sample.py"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def http_server_url() -> AsyncIterator[str]:
    """tests/tools/servers/http_sample.py in another process over streamable HTTP (`Bearer sekrit`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SAMPLE_TOKEN": "sekrit", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(SAMPLE_HTTP), str(port)]
    async with await anyio.open_process(command, env=env, stderr=subprocess.PIPE) as process:
        try:
            seen = b""
            assert process.stderr is not None
            with anyio.fail_after(20):
                async for chunk in process.stderr:
                    seen += chunk
                    if b"Uvicorn running" in seen:
                        break
                else:
                    raise RuntimeError(f"the HTTP MCP server exited: {seen.decode(errors='replace')}")
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.kill()
