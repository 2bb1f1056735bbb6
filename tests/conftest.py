"""Shared test fixtures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

REPO = Path(__file__).resolve().parents[1]
HTTP_SAMPLE = REPO / "tests" / "tools" / "servers" / "http_sample.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def http_sample() -> AsyncIterator[str]:
    """The sample server in another process over streamable HTTP, requiring `Bearer sekrit`."""
    port = _free_port()
    env = {**os.environ, "SAMPLE_TOKEN": "sekrit", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(HTTP_SAMPLE), str(port)]
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
                    raise RuntimeError(f"the HTTP test server exited: {seen.decode(errors='replace')}")
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.kill()
