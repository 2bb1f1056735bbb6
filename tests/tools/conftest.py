"""Fixtures for the tool layer: the sample server as a stdio subprocess and over streamable HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from mcp import StdioServerParameters

SERVERS = Path(__file__).parent / "servers"
REPO = Path(__file__).resolve().parents[2]


def sample_stdio(events_dir: Path) -> StdioServerParameters:
    """The sample server as a subprocess; it records handler events as files in `events_dir`."""
    return StdioServerParameters(
        command=sys.executable,
        args=[str(SERVERS / "sample.py")],
        env={"SAMPLE_EVENTS_DIR": str(events_dir), "PYTHONPATH": str(REPO)},
    )


async def wait_for_file(path: Path, timeout_s: float = 5.0) -> None:
    """Wait until a server process has written `path` (it has no other way to tell us)."""
    with anyio.fail_after(timeout_s):
        # Another process writes it: there is no event to await, so poll briefly.
        while not await anyio.Path(path).exists():  # noqa: ASYNC110
            await anyio.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def http_sample() -> AsyncIterator[str]:
    """The sample server in another process over streamable HTTP, requiring `Bearer sekrit`."""
    port = _free_port()
    env = {**os.environ, "SAMPLE_TOKEN": "sekrit", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(SERVERS / "http_sample.py"), str(port)]
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
